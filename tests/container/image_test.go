package container

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// Paths inside the test image.
const (
	imageLib   = "/usr/local/lib/libgoshm.so"    // the default, as deployed
	imageGoLib = "/usr/local/lib/libgoshm-go.so" // for the Go runtime's tests
	imageStore = "/var/lib/goshm"                // the default GOSHM_DIR, 1777 in the image
)

// The image every test uses: our programs, both builds of the library,
// build/goshm, a shell and a few tools, and the shared libraries they load.
// Its command is ctr_init, which waits so that the tests can `docker exec`
// into it.
var shared struct {
	once sync.Once
	tag  string
	err  error
}

// testImage returns the test image's tag, building it at the first call.
func testImage(t *testing.T) string {
	t.Helper()
	testenv.RequireDocker(t)
	shared.once.Do(func() {
		tag := testenv.DockerName("img")
		shared.err = buildTestImage(testenv.Root(t), tag)
		if shared.err == nil {
			shared.tag = tag
		}
	})
	require.NoError(t, shared.err, "building the test image (run `make` first)")
	return shared.tag
}

func buildTestImage(root, tag string) error {
	r := testenv.NewRootfs()
	build := func(name string) string { return filepath.Join(root, "build", name) }
	programs := map[string]string{
		"/usr/local/bin/bigseg":         build("tests/bigseg"),
		"/usr/local/bin/systemv_shm_wr": build("legacy/systemv_shm_wr"),
		"/usr/local/bin/systemv_shm_rd": build("legacy/systemv_shm_rd"),
	}
	// Every container helper, tests/cprogs/ctr_*.c.
	helpers, err := filepath.Glob(build("tests/ctr_*"))
	if err != nil || len(helpers) == 0 {
		return fmt.Errorf("no %s (run make): %v", build("tests/ctr_*"), err)
	}
	for _, h := range helpers {
		programs["/usr/local/bin/"+filepath.Base(h)] = h
	}
	// build/goshm is added when it exists; the tests that run it check
	// for it with testenv.Artifact, which says what is missing.
	if _, err := os.Stat(build("goshm")); err == nil {
		programs["/usr/local/bin/goshm"] = build("goshm")
	}
	// Host tools for setting up a store's directory and a sysctl check.
	for dst, name := range map[string]string{"/bin/sh": "dash", "/bin/mkdir": "mkdir", "/bin/stat": "stat", "/bin/cat": "cat", "/bin/ls": "ls"} {
		src, err := exec.LookPath(name)
		if err != nil {
			return fmt.Errorf("host tool for the image: %w", err)
		}
		programs[dst] = src
	}
	for dst, src := range programs {
		if err := r.AddProgram(dst, src); err != nil {
			return err
		}
	}
	for dst, src := range map[string]string{imageLib: build("libgoshm.so"), imageGoLib: build("libgoshm-go.so")} {
		if err := r.AddFile(dst, src, 0o755); err != nil {
			return err
		}
		if err := r.AddLibrariesOf(src); err != nil {
			return err
		}
	}
	// Like /dev/shm; a fresh volume mounted here inherits the mode.
	r.AddDir(imageStore, 0o777|fs.ModeSticky)
	return r.Import(tag, "ENV PATH=/usr/local/bin:/bin", `CMD ["/usr/local/bin/ctr_init"]`)
}
