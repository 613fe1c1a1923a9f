// Package container runs goshm's claims on a real Docker engine: segments
// that survive `docker restart`, `docker stop` and container recreation on
// a volume, two containers sharing live segments, non-root users, a
// container's SHMMAX, and the examples/docker recipe.
//
// No image is pulled: the images are built from what `make` built (see
// image_test.go).  They use build/libgoshm.so, the library a deployment
// uses by default, and libgoshm-go.so where its Go runtime matters
// (signals_test.go).  Without a Docker engine they fail, unless
// GOSHM_TEST_NO_DOCKER=1 says the machine cannot have one (testenv.RequireDocker).
package container

import (
	"fmt"
	"os"
	"testing"

	"github.com/goshm/goshm/tests/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	// The image is shared by every test of the package, so it is removed
	// here rather than by one test's cleanup.
	if shared.tag != "" {
		if err := testenv.RemoveImage(shared.tag); err != nil {
			fmt.Fprintf(os.Stderr, "container tests: removing %s: %v\n", shared.tag, err)
		}
	}
	os.Exit(code)
}
