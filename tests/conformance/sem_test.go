package conformance

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// TestSemScenarios runs every scenario of build/tests/conf_sem natively
// in a fresh IPC namespace and under goshm (the default: served from the
// store) with a fresh
// store, as root and as uid 1000, and compares the outputs: each
// process's lines in order (a parent and its children run concurrently,
// so only the order within a process is fixed).
func TestSemScenarios(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/conf_sem")
	out, err := exec.Command(prog, "--list").Output()
	require.NoError(t, err, "conf_sem --list")
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.NotEmpty(t, lines, "conf_sem lists no scenario")
	for _, w := range []who{asRoot, asUser} {
		t.Run(w.String(), func(t *testing.T) {
			for _, line := range lines {
				f := strings.Fields(line)
				require.Len(t, f, 2, "conf_sem --list line %q", line)
				name := f[0]
				if f[1] == "root" && w != asRoot {
					continue
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					native := runNative(t, w, prog, name)
					goshm := runSemGoshm(t, w, newStore(t), prog, name)
					native.Stdout = byProcess(native.Stdout)
					goshm.Stdout = byProcess(goshm.Stdout)
					assertSameAsKernel(t, name, w, native, goshm)
				})
			}
		})
	}
}

// runSemGoshm runs argv under goshm with semaphores served from store.
func runSemGoshm(t *testing.T, w who, store string, argv ...string) testenv.Result {
	t.Helper()
	o, args := goshmOpts(t, w, store, argv...)
	return testenv.Run(t, o, args...)
}

// byProcess orders lines "<scenario> <process>#<n> ..." by process,
// keeping each process's own order.
func byProcess(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	proc := func(l string) string {
		f := strings.SplitN(l, " ", 3)
		if len(f) < 2 {
			return ""
		}
		if i := strings.LastIndex(f[1], "#"); i >= 0 {
			return f[1][:i]
		}
		return f[1]
	}
	sort.SliceStable(lines, func(i, j int) bool { return proc(lines[i]) < proc(lines[j]) })
	return strings.Join(lines, "\n") + "\n"
}

// Semaphores are served from the store by default; GOSHM_SEM=0 leaves
// them to the kernel, unchanged: the output is the kernel's and the
// store gets no semaphore registry.
func TestSemRouting(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/conf_sem")
	native := runNative(t, asRoot, prog, "sem_ctl")

	store := newStore(t)
	o, args := goshmOpts(t, asRoot, store, prog, "sem_ctl")
	o.Env = append(o.Env, "GOSHM_SEM=0")
	off := testenv.Run(t, o, args...)
	assertSameAsKernel(t, "sem_ctl", asRoot, native, off)
	_, err := os.Stat(filepath.Join(store, "sem"))
	require.True(t, os.IsNotExist(err), "GOSHM_SEM=0 made %s/sem", store)

	store = newStore(t)
	on := runGoshm(t, asRoot, store, prog, "sem_ctl")
	assertSameAsKernel(t, "sem_ctl", asRoot, native, on)
	_, err = os.Stat(filepath.Join(store, "sem", "registry"))
	require.NoError(t, err, "served from the store by default")
}

// GOSHM_KEYS routes semaphore keys like segment keys: a listed key's set
// is goshm's (an id at the routed base, unknown to the kernel), another
// key's set is the kernel's, and each call on either goes where its id
// belongs.
func TestSemKeysRouting(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/sem_route")
	store := newStore(t)
	o, args := goshmOpts(t, asRoot, store, prog)
	o.Env = append(o.Env, "GOSHM_KEYS=0x5e00")
	r := testenv.Run(t, o, args...)
	require.Equal(t, 0, r.Code, r.String())
	require.Empty(t, r.Stderr)
	require.Equal(t, "0x5e00: value=2 kernel=no routed=yes\n0x7e00: value=2 kernel=yes routed=no\n", r.Stdout)
}

// A process going through many sets keeps a bounded number of mappings of
// them (capi/engine/sem_cache.c): a removed set's is unmapped once no call
// uses it, and at most 64 idle ones stay.  build/tests/sem_churn goes
// through thousands of sets -- removed, or left live; with SEM_UNDO
// adjustments left or given back; with threads blocked in semop on other
// sets meanwhile, a thread holding an adjustment on a set another thread
// removed, threads using more live sets than are kept mapped, forks while
// they do -- and reports the most mappings of the store's sem/
// directory it saw in /proc/self/maps.  Everything else it prints (the
// waiters' results, values, descriptors gained) must be the kernel's.
func TestSemMappingsBounded(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/sem_churn")
	for _, c := range []struct {
		mode, n string
		max     int // mappings at once: idle ones, those in use, SEM_UNDO's
	}{
		{"loop", "5000", 2},      // the set in use only
		{"live", "1000", 64 + 1}, // 64 idle
		{"threads", "2000", 64 + 4},
		{"race", "1000", 64 + 5},
		// 4 threads each pin one set while others drop mappings; the
		// idle count is read without a lock, so one more may linger.
		{"lru", "20000", 64 + 4 + 2},
		{"fork", "200", 64 + 2 + 4},
	} {
		t.Run(c.mode, func(t *testing.T) {
			t.Parallel()
			native := runNative(t, asRoot, prog, c.mode, c.n)
			require.Equal(t, 0, native.Code, "native\n%s", native)
			goshm := runSemGoshm(t, asRoot, newStore(t), prog, c.mode, c.n)
			require.Equal(t, 0, goshm.Code, "goshm\n%s", goshm)
			nv, nmax := splitMaps(t, native.Stdout)
			gv, gmax := splitMaps(t, goshm.Stdout)
			require.Equal(t, nv, gv, "sem_churn %s: native vs goshm", c.mode)
			require.Equal(t, 0, nmax, "native: no mapping of a store")
			require.Positive(t, gmax, "goshm: the sets' mappings are seen\n%s", goshm)
			require.LessOrEqual(t, gmax, c.max, "goshm: mappings of sem/ at once\n%s", goshm)
		})
	}
}

// splitMaps takes the "sem-maps-max = N" line out of sem_churn's output.
func splitMaps(t *testing.T, out string) (rest string, max int) {
	t.Helper()
	var keep []string
	found := false
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if v, ok := strings.CutPrefix(l, "sem-maps-max = "); ok {
			n, err := strconv.Atoi(v)
			require.NoError(t, err, "sem-maps-max line %q", l)
			max, found = n, true
			continue
		}
		keep = append(keep, l)
	}
	require.True(t, found, "no sem-maps-max line in\n%s", out)
	return strings.Join(keep, "\n"), max
}
