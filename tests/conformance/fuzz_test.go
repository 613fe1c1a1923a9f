package conformance

import (
	"fmt"
	"testing"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// Random calls -- valid and invalid ids, keys, sizes, flags, commands,
// buffers and addresses, from the parent and from forked children that
// exit or are killed -- give the kernel's results under goshm, line by
// line, and never crash.  Each seed is a different sequence; a failure
// names its seed, and `conf_fuzz SEED` replays it.
func TestFuzzAgainstKernel(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/conf_fuzz")
	for _, w := range []who{asRoot, asUser} {
		for _, seed := range []int{1, 2, 3, 12, 30} {
			t.Run(fmt.Sprintf("%s/seed%d", w, seed), func(t *testing.T) {
				t.Parallel()
				runBoth(t, "fuzz", w, prog, fmt.Sprint(seed), "1500")
			})
		}
	}
}
