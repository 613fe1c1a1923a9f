package conformance

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// The machine's huge page pools and who may use them: what shmget's
// SHM_HUGETLB answers depends on them (capi/engine/hugetlb.c).
const (
	nrHugepages   = "/proc/sys/vm/nr_hugepages"
	nrOvercommit  = "/proc/sys/vm/nr_overcommit_hugepages"
	hugetlbGroup  = "/proc/sys/vm/hugetlb_shm_group"
	freeHugepages = "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"
)

func readSysctl(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err, "read %s", path)
	return strings.TrimSpace(string(b))
}

func writeSysctl(t *testing.T, path, value string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(value), 0o644), "write %s to %s", value, path)
}

// TestHugetlbFollowsThePool runs the scenario get_hugetlb_pool natively
// and under goshm with a pool of two free 2 MiB pages, with no pool but two
// surplus pages allowed, with uid 1000's group made vm.hugetlb_shm_group,
// and as root of a user namespace (every capability there, none in the
// initial namespace, which is where the kernel asks for CAP_IPC_LOCK) with
// the group another: goshm must accept and refuse what the kernel does in
// each.  The pools are the machine's, so the test is not parallel, and it
// puts them back.
func TestHugetlbFollowsThePool(t *testing.T) {
	testenv.RequireRoot(t)
	if _, err := os.Stat(freeHugepages); err != nil {
		t.Fatalf("this kernel has no 2 MiB huge pages (%v); the test needs them", err)
	}
	prog := testenv.Artifact(t, "tests/conf_scenarios")
	for _, path := range []string{nrHugepages, nrOvercommit, hugetlbGroup} {
		saved := readSysctl(t, path)
		t.Cleanup(func() { writeSysctl(t, path, saved) })
	}
	settings := []struct {
		name              string
		pages, overcommit int
		group             int
		userns            bool // as root of a new user namespace, not as root and uid 1000
	}{
		{"two_free_pages", 2, 0, 0, false},
		{"two_surplus_pages", 0, 2, 0, false},
		{"user_in_the_group", 2, 0, testenv.UnprivGID, false},
		{"root_of_a_user_namespace", 2, 0, testenv.UnprivGID, true},
	}
	for _, s := range settings {
		t.Run(s.name, func(t *testing.T) {
			writeSysctl(t, nrOvercommit, strconv.Itoa(s.overcommit))
			writeSysctl(t, nrHugepages, strconv.Itoa(s.pages))
			writeSysctl(t, hugetlbGroup, strconv.Itoa(s.group))
			require.Equal(t, strconv.Itoa(s.pages), readSysctl(t, freeHugepages),
				"the kernel did not make %d huge pages free", s.pages)
			if s.userns {
				// Only the program carries the library: unshare(2) refuses
				// CLONE_NEWUSER to a process with threads, and the Go build
				// brings its runtime's.
				userns := []string{"unshare", "--user", "--map-root-user"}
				native := runNative(t, asRoot, append(userns, prog, "get_hugetlb_pool")...)
				goshm := testenv.Run(t, testenv.Opts{NewIPC: true, Store: newStore(t), Timeout: 2 * time.Minute},
					append(userns, "env", "LD_PRELOAD="+testenv.Lib(t), prog, "get_hugetlb_pool")...)
				assertSameAsKernel(t, "get_hugetlb_pool", asRoot, native, goshm)
				require.Contains(t, native.Stdout, "EPERM", "the kernel refused the user namespace's root")
				return
			}
			for _, w := range []who{asRoot, asUser} {
				t.Run(w.String(), func(t *testing.T) {
					native := runNative(t, w, prog, "get_hugetlb_pool")
					goshm := runGoshm(t, w, newStore(t), prog, "get_hugetlb_pool")
					assertSameAsKernel(t, "get_hugetlb_pool", w, native, goshm)
					// The pool must have been used: some creation succeeded.
					allowed := w == asRoot || s.group == testenv.UnprivGID
					require.Equal(t, allowed, strings.Contains(native.Stdout, "= id#"),
						"a huge page segment was made natively: %v\n%s", allowed, native.Stdout)
				})
			}
		})
	}
}
