package conformance

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// runBoth runs argv natively and under goshm (fresh namespace, fresh
// store) as w, and checks that both printed the same.
func runBoth(t *testing.T, name string, w who, argv ...string) (native, goshm testenv.Result) {
	t.Helper()
	return runBothLib(t, name, w, testenv.Lib(t), argv...)
}

// runBothLib is runBoth with the library lib in place of the library
// under test.
func runBothLib(t *testing.T, name string, w who, lib string, argv ...string) (native, goshm testenv.Result) {
	t.Helper()
	native = runNative(t, w, argv...)
	goshm = runGoshmLib(t, w, newStore(t), lib, argv...)
	assertSameAsKernel(t, name, w, native, goshm)
	return native, goshm
}

// 500 children forked at once each call shmget, shmat, shmctl and shmdt
// under alarm(10): none may fail, none may hang.
func TestFork500Children(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/conf_fork")
	for _, w := range []who{asRoot, asUser} {
		t.Run(w.String(), func(t *testing.T) { checkFork500Children(t, w, prog, testenv.Lib(t)) })
	}
}

// checkFork500Children runs conf_fork children 500 (prog) natively and
// under lib as w.
func checkFork500Children(t *testing.T, w who, prog, lib string) {
	_, goshm := runBothLib(t, "children", w, lib, prog, "children", "500")
	assert.Contains(t, goshm.Stdout,
		"500 children forked: 500 ok, 0 failed, 0 hung (SIGALRM), 0 killed otherwise")
	assert.Contains(t, goshm.Stdout, "increments seen through the keyed segments = 500")
	assert.Contains(t, goshm.Stdout, "nattch(id#0) = 1\n")
}

// A daemon (double fork, setsid, every descriptor closed) uses shared
// memory, and its parent counts its attach.
func TestDaemon(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/conf_fork")
	for _, w := range []who{asRoot, asUser} {
		t.Run(w.String(), func(t *testing.T) { checkDaemon(t, w, prog, testenv.Lib(t)) })
	}
}

// checkDaemon runs conf_fork daemon (prog) natively and under lib as w.
func checkDaemon(t *testing.T, w who, prog, lib string) {
	_, goshm := runBothLib(t, "daemon", w, lib, prog, "daemon")
	for _, want := range []string{
		"daemon attached = yes",
		"daemon: shmget found the same id = 1, shmat = 1, read the parent's data = 1",
		"daemon: IPC_PRIVATE shmget/shmat/shmdt/IPC_RMID = 1",
		"daemon: descriptors open after its calls = 0",
		// the parent's attach, the one the daemon inherited, its own
		"main#9 nattch(id#0) = 3",
		`parent reads "daemon"`,
		"daemon: shmdt = 1, then its IPC_STAT nattch = 2",
		"daemon exited = yes",
		"main#14 nattch(id#0) = 1", // its exit ended the attach it inherited
	} {
		assert.Contains(t, goshm.Stdout, want)
	}
}

// Eight threads attach and detach while another forks: no deadlock, no
// error, and nattch ends at 0.
func TestThreads(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/conf_threads")
	for _, w := range []who{asRoot, asUser} {
		t.Run(w.String(), func(t *testing.T) {
			_, goshm := runBoth(t, "threads", w, prog)
			assert.Contains(t, goshm.Stdout, "8 threads x 300 rounds: 0 errors")
			assert.Contains(t, goshm.Stdout, "40 forks from a thread: 0 children failed or hung")
			assert.Contains(t, goshm.Stdout, "increments = 1200, child writes = 1")
			assert.Contains(t, goshm.Stdout, "nattch(id#0) = 0")
		})
	}
}

// Permission checks from a thread with the smallest stack pthreads allows.
func TestSmallThreadStack(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/conf_threads")
	_, goshm := runBoth(t, "smallstack", asRoot, prog, "smallstack")
	assert.Contains(t, goshm.Stdout, "main#2 wait(child#2) = exit 0")
}

// Processes racing on one key: exactly one of 20 creators wins with
// IPC_CREAT|IPC_EXCL, and 16 processes creating, attaching, detaching and
// removing the same key leave nothing behind.
func TestProcessRaces(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/conf_fork")
	for _, w := range []who{asRoot, asUser} {
		t.Run(w.String(), func(t *testing.T) { checkProcessRaces(t, w, prog, testenv.Lib(t)) })
	}
}

// checkProcessRaces runs conf_fork excl and churn (prog) natively and
// under lib as w.
func checkProcessRaces(t *testing.T, w who, prog, lib string) {
	_, goshm := runBothLib(t, "excl", w, lib, prog, "excl", "20", "30")
	assert.Contains(t, goshm.Stdout, "30 rounds of 20 creators: 0 rounds without exactly one winner")
	assert.Contains(t, goshm.Stdout, "{used_ids=0 shm_tot=0")

	store := newStore(t)
	native := runNative(t, w, prog, "churn", "16", "200")
	goshm = runGoshmLib(t, w, store, lib, prog, "churn", "16", "200")
	assertSameAsKernel(t, "churn", w, native, goshm)
	assert.Contains(t, goshm.Stdout, "16 children x 200 rounds: 16 ok, 0 killed")
	assert.Contains(t, goshm.Stdout, "{used_ids=0 shm_tot=0")
	assert.Empty(t, segmentFiles(t, store), "files left in the store")
}
