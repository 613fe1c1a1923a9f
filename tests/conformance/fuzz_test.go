package conformance

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
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

// The same random calls made through syscall(2) with their numbers, as
// programs that avoid the C library's wrappers make them: goshm serves
// them as it serves the wrappers (capi/engine/exports.c gs_sysv_syscall),
// with the kernel's results.
func TestFuzzSyscallAgainstKernel(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/conf_fuzz")
	for _, w := range []who{asRoot, asUser} {
		for _, seed := range []int{4, 5, 6} {
			t.Run(fmt.Sprintf("%s/seed%d", w, seed), func(t *testing.T) {
				t.Parallel()
				runBoth(t, "fuzz-syscall", w, prog, fmt.Sprint(seed), "1500", "syscall")
			})
		}
	}
}

// nattch values, on lines of their own and as a field.
var nattchValue = regexp.MustCompile(`(?m)( nattch=| nattch\(id#\d+\) = )\d+`)

// Issue 14, defect 13: random calls as above, with SHM_REMAP over parts of
// other attaches and shmdt at any page (conf_fuzz's remap mode): return
// values and which pages stay mapped must be the kernel's.  nattch is not
// compared: the kernel counts the pieces of a cut attach
// (docs/DIFFERENCES.md, Attach counting: VMA fragments).  150 seeds of 400
// calls as root, 10 as uid 1000; GOSHM_REMAP_SEEDS=N for more.
func TestFuzzRemapAgainstKernel(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/conf_fuzz")
	seeds := 150
	if v := os.Getenv("GOSHM_REMAP_SEEDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("GOSHM_REMAP_SEEDS=%q", v)
		}
		seeds = n
	}
	for _, w := range []who{asRoot, asUser} {
		n := seeds
		if w == asUser {
			n = min(seeds, 10)
		}
		for seed := 1; seed <= n; seed++ {
			t.Run(fmt.Sprintf("%s/seed%d", w, seed), func(t *testing.T) {
				t.Parallel()
				argv := []string{prog, fmt.Sprint(seed), "400", "remap"}
				native := runNative(t, w, argv...)
				goshm := runGoshm(t, w, newStore(t), argv...)
				native.Stdout = nattchValue.ReplaceAllString(native.Stdout, "${1}*")
				goshm.Stdout = nattchValue.ReplaceAllString(goshm.Stdout, "${1}*")
				assertSameAsKernel(t, "fuzz-remap", w, native, goshm)
			})
		}
	}
}
