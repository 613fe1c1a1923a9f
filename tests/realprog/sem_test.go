package realprog

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

var semStressArgs = []string{"stress-ng", "--sem-sysv", "2", "--timeout", "5s", "--metrics-brief"}

// semEnv is the environment that serves semaphores from store.
func semEnv(t *testing.T, store string) []string {
	return shimEnv(t, store) // served from the store by default
}

// semSets lists the set files left in a store's sem/ directory.
func semSets(t *testing.T, store string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(store, "sem"))
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	var sets []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "set-") {
			sets = append(sets, e.Name())
		}
	}
	return sets
}

// stress-ng's System V semaphore stressor: per instance, processes that
// lock and unlock a set (SEM_UNDO), with IPC_STAT, GETVAL, GETPID,
// GETNCNT, GETZCNT, GETALL, SETALL, IPC_INFO, SEM_INFO and SEM_STAT on
// the way and invalid calls at the end.  Under goshm it must run clean,
// leave no set behind and make none in the kernel.
func TestStressNGSemSysv(t *testing.T) {
	testenv.RequireRoot(t)
	store := testenv.NewStore(t)
	ns := newIPCNS(t)
	under := testenv.Run(t, testenv.Opts{Dir: workDir(t), Timeout: 2 * time.Minute},
		cat(ns.enter(), semEnv(t, store), semStressArgs)...)
	require.Equal(t, 0, under.Code, under.String())
	out := under.Stdout + under.Stderr
	assert.Contains(t, out, "successful run completed")
	assert.NotRegexp(t, `(?i)fail|error`, out)
	assert.Empty(t, semSets(t, store), "sets left in the store")
	kernel := mustRun(t, 30*time.Second, cat(ns.enter(), []string{"ipcs", "-s"})...).Stdout
	assert.NotRegexp(t, `0x[0-9a-f]+\s+\d+\s+\w+\s+\d+`, kernel, "sets made in the kernel")

	native := testenv.Run(t, testenv.Opts{NewIPC: true, Dir: workDir(t), Timeout: 2 * time.Minute},
		semStressArgs...)
	require.Equal(t, 0, native.Code, native.String())
	g, n := semBogoOps(t, out), semBogoOps(t, native.Stdout+native.Stderr)
	t.Logf("stress-ng --sem-sysv 2 for 5 s: %d bogo ops under goshm, %d natively (%.2f of native)",
		g, n, float64(g)/float64(n))
}

func semBogoOps(t *testing.T, out string) int {
	t.Helper()
	m := regexp.MustCompile(`metrc: \[\d+\] sem-sysv\s+(\d+)\s`).FindStringSubmatch(out)
	require.NotNil(t, m, "no metrics in:\n%s", out)
	n, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	return n
}

// C, Python (sysv_ipc.Semaphore) and Perl (IPC::Semaphore) share one
// set, each step a new process in a fresh IPC namespace on the same
// store; a Python holder with SEM_UNDO is SIGKILLed and C then gets the
// lock.
func TestSemInteropPythonPerlC(t *testing.T) {
	testenv.RequireRoot(t)
	py, err := filepath.Abs("testdata/sem_interop.py")
	require.NoError(t, err)
	pl, err := filepath.Abs("testdata/sem_interop.pl")
	require.NoError(t, err)
	cProg := testenv.Artifact(t, "tests/real_sem_interop")
	t.Logf("sysv_ipc %s, %s", strings.TrimSpace(mustRun(t, 30*time.Second, python, py, "version").Stdout),
		strings.TrimSpace(mustRun(t, 30*time.Second, perl, pl, "version").Stdout))

	const key = "0x5e4d0001"
	store := testenv.NewStore(t)
	o := testenv.Opts{NewIPC: true, Preload: true, Store: store}
	steps := []struct {
		argv []string
		want string
	}{
		{[]string{cProg, key, "create"}, "0"},
		{[]string{python, py, key, "post"}, "1"},
		{[]string{perl, pl, key, "post"}, "2"},
		{[]string{cProg, key, "value"}, "2"},
		{[]string{python, py, key, "take"}, "1"},
		{[]string{perl, pl, key, "take"}, "0"},
		{[]string{python, py, key, "busy"}, "busy"},
		{[]string{perl, pl, key, "stat"}, "nsems=1 mode=666"},
		{[]string{perl, pl, key, "post"}, "1"},
		{[]string{cProg, key, "lock"}, "locked and unlocked\n1"},
	}
	for i, s := range steps {
		r := testenv.Run(t, o, s.argv...)
		require.Equal(t, 0, r.Code, "step %d %v: %s", i+1, s.argv, r)
		require.Equal(t, s.want, strings.TrimSpace(r.Stdout), "step %d %v", i+1, s.argv)
	}

	// A SEM_UNDO holder in its own namespace, killed while it holds.
	logPath := filepath.Join(t.TempDir(), "hold.log")
	hold := start(t, logPath, cat([]string{"unshare", "--ipc", "--"}, semEnv(t, store),
		[]string{python, py, key, "hold"})...)
	require.Eventually(t, func() bool { return strings.Contains(hold.output(t), "held") },
		20*time.Second, 20*time.Millisecond, "the holder never took the semaphore")
	r := testenv.Run(t, o, cProg, key, "value")
	require.Equal(t, "0", strings.TrimSpace(r.Stdout), "value while held: %s", r)
	require.NoError(t, hold.cmd.Process.Kill())
	require.Equal(t, 137, hold.wait(t, 10*time.Second))
	r = testenv.Run(t, o, cProg, key, "lock")
	require.Equal(t, 0, r.Code, "lock after the holder was killed: %s", r)
	require.Equal(t, "locked and unlocked\n1", strings.TrimSpace(r.Stdout))

	r = testenv.Run(t, o, cProg, key, "remove")
	require.Equal(t, 0, r.Code, r.String())
	r = testenv.Run(t, o, python, py, key, "gone")
	require.Equal(t, "gone", strings.TrimSpace(r.Stdout), r.String())
	assert.Empty(t, semSets(t, store), "sets left in the store")
}
