package integration

import (
	"errors"
	"os/exec"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// The dormant Go runtime inside libgoshm-go.so must leave a program's
// signals and processes as the kernel gives them: these tests run the
// gort_* programs (tests/cprogs) natively and with that library preloaded,
// and compare.  capi/runtime_signals.c and capi/runtime_threads.c are what
// makes them equal; docs/DIFFERENCES.md lists what remains (threads).
// libgoshm.so has no runtime: builds_test.go checks that it changes
// nothing of the kind.

// outcome is what a program did, in terms that must not depend on the
// library: its output, and how it ended.
type outcome struct {
	Stdout string
	Ended  string // "exit N" or "killed by SIGx"
}

func runBoth(t *testing.T, argv ...string) (native, preloaded outcome) {
	t.Helper()
	run := func(preload bool) outcome {
		o := testenv.Opts{Preload: preload, Lib: testenv.GoLib(t), Store: testenv.NewStore(t),
			Timeout: 30 * time.Second}
		r := testenv.Run(t, o, argv...)
		return outcome{Stdout: r.Stdout, Ended: howEnded(t, r)}
	}
	return run(false), run(true)
}

// howEnded names the exit status or the signal that ended a program.
func howEnded(t *testing.T, r testenv.Result) string {
	t.Helper()
	var ee *exec.ExitError
	if r.Err == nil {
		return "exit 0"
	}
	require.True(t, errors.As(r.Err, &ee), "did not run: %v", r.Err)
	ws := ee.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		if name := unix.SignalName(ws.Signal()); name != "" {
			return "killed by " + name
		}
		return "killed by signal " + strconv.Itoa(int(ws.Signal()))
	}
	return "exit " + strconv.Itoa(ws.ExitStatus())
}

// Natively a program starts with every signal at its default; the runtime
// installs handlers for SIGSEGV, SIGBUS, SIGFPE, SIGPIPE and SIGURG when it
// starts, and the library puts the program's back.
func TestGoRuntimeLeavesDispositionsAlone(t *testing.T) {
	native, preloaded := runBoth(t, testenv.Artifact(t, "tests/gort_dispositions"))
	assert.Equal(t, outcome{Stdout: "", Ended: "exit 0"}, native)
	assert.Equal(t, native, preloaded)
}

// An ignored SIGPIPE stays ignored through exec: had the runtime's
// handler stayed, exec would reset SIGPIPE to its default in the next
// program, which would then die of a write to a closed pipe.
func TestGoRuntimeKeepsIgnoredSIGPIPEThroughExec(t *testing.T) {
	native, preloaded := runBoth(t, testenv.Artifact(t, "tests/gort_sigpipe_ignored"))
	assert.Equal(t, outcome{
		Stdout: "stage 1: SIGPIPE ignored, write: EPIPE\nstage 2: SIGPIPE ignored, write: EPIPE\n",
		Ended:  "exit 0",
	}, native)
	assert.Equal(t, native, preloaded)
}

// A signal the program blocks stays pending for it, whatever it is: the
// runtime's threads unblock SIGCHLD, SIGPROF, SIGURG and glibc's SIGRTMIN
// for themselves, so without runtime_threads.c a child's SIGCHLD would be
// discarded on one of them and a timer's SIGRTMIN would kill the program.
func TestGoRuntimeLeavesBlockedSignalsPending(t *testing.T) {
	prog := testenv.Artifact(t, "tests/gort_sigwait")
	for _, c := range []struct{ arg, want string }{
		{"chld", "SIGCHLD taken by sigtimedwait, si_code CLD_EXITED\n"},
		{"rtmin", "SIGRTMIN taken by sigtimedwait, si_code SI_TIMER\n"},
		{"term", "SIGTERM taken by sigtimedwait, si_code SI_USER\n"},
		{"usr1", "SIGUSR1 taken by sigtimedwait, si_code SI_USER\n"},
	} {
		t.Run(c.arg, func(t *testing.T) {
			t.Parallel()
			native, preloaded := runBoth(t, prog, c.arg)
			assert.Equal(t, outcome{Stdout: c.want, Ended: "exit 0"}, native)
			assert.Equal(t, native, preloaded)
		})
	}
}

var otherThreads = regexp.MustCompile(`(?m)^other threads: (\d+)\n`)

// The program's mask is its own before and after goshm's calls, and every
// other thread (the runtime's) blocks every signal a program may take.
func TestGoRuntimeThreadsBlockProgramSignals(t *testing.T) {
	native, preloaded := runBoth(t, testenv.Artifact(t, "tests/gort_sigmask"))
	require.Equal(t, "exit 0", native.Ended, native.Stdout)
	require.Equal(t, "exit 0", preloaded.Ended, preloaded.Stdout)

	n := otherThreads.FindStringSubmatch(preloaded.Stdout)
	require.NotNil(t, n, preloaded.Stdout)
	threads, _ := strconv.Atoi(n[1])
	assert.Positive(t, threads, "the runtime's threads must be there for this test to mean something")
	assert.Contains(t, native.Stdout, "other threads: 0\n")
	// Everything but the thread count is the same: the main thread's
	// masks, and no "thread N lets through" line.
	strip := func(s string) string { return otherThreads.ReplaceAllString(s, "") }
	assert.Equal(t, strip(native.Stdout), strip(preloaded.Stdout))
	assert.NotContains(t, preloaded.Stdout, "lets through")
}

// A program's handler runs for the signals the runtime would handle
// (faults, SIGPIPE) and for the others, in the thread the kernel picks
// natively.
func TestGoRuntimeLeavesHandlersToProgram(t *testing.T) {
	prog := testenv.Artifact(t, "tests/gort_handlers")
	for _, sig := range []string{"segv", "bus", "fpe", "pipe", "usr1", "chld", "alrm"} {
		t.Run(sig, func(t *testing.T) {
			t.Parallel()
			native, preloaded := runBoth(t, prog, sig)
			assert.Contains(t, native.Stdout, "in the main thread")
			assert.NotEqual(t, "exit 1", native.Ended, "the handler never ran natively")
			assert.Equal(t, native, preloaded)
		})
	}
}

// Without a handler, a signal takes the kernel's default action, and the
// program dies of it with nothing printed by the runtime.
func TestGoRuntimeLeavesDefaultActions(t *testing.T) {
	prog := testenv.Artifact(t, "tests/gort_default")
	for _, c := range []struct{ arg, ended string }{
		{"segv", "killed by SIGSEGV"},
		{"abort", "killed by SIGABRT"},
		{"pipe", "killed by SIGPIPE"},
	} {
		t.Run(c.arg, func(t *testing.T) {
			t.Parallel()
			for _, preload := range []bool{false, true} {
				o := testenv.Opts{Preload: preload, Lib: testenv.GoLib(t), Store: testenv.NewStore(t)}
				r := testenv.Run(t, o, prog, c.arg)
				assert.Equal(t, c.ended, howEnded(t, r), "preload=%v\n%s", preload, r)
				assert.Empty(t, r.Stderr, "preload=%v", preload)
			}
		})
	}
	t.Run("term", func(t *testing.T) {
		t.Parallel()
		for _, preload := range []bool{false, true} {
			o := testenv.Opts{Preload: preload, Lib: testenv.GoLib(t), Store: testenv.NewStore(t)}
			_, err := sigtermWhenReady(t, o, prog, "wait")
			r := testenv.Result{Err: err}
			assert.Equal(t, "killed by SIGTERM", howEnded(t, r), "preload=%v", preload)
		}
	})
}

// Children a program forks are reaped with the statuses they exit with, and
// a forked child (which has no runtime thread at all) uses System V shared
// memory as its parent would.
func TestGoRuntimeLeavesChildrenToProgram(t *testing.T) {
	native, preloaded := runBoth(t, testenv.Artifact(t, "tests/gort_forks"))
	require.Equal(t, "exit 0", native.Ended, native.Stdout)
	assert.Contains(t, native.Stdout, "children: 50 reaped\n")
	assert.Contains(t, native.Stdout, "child 49: exit 49\n")
	assert.Contains(t, native.Stdout, "shm child: exit 0\n")
	assert.Equal(t, native, preloaded)
}

var threadLine = regexp.MustCompile(`^idle: (\d+)\nwith three of its own: (\d+)\nafter joining them: (\d+)\nwork: 3000\n$`)

// The one thing that does differ: the runtime's threads are there, a fixed
// number of them, and the program's own threads come and go on top.
func TestGoRuntimeThreadCount(t *testing.T) {
	native, preloaded := runBoth(t, testenv.Artifact(t, "tests/gort_threads"))
	counts := func(o outcome) (idle, with, after int) {
		m := threadLine.FindStringSubmatch(o.Stdout)
		require.NotNil(t, m, o.Stdout)
		idle, _ = strconv.Atoi(m[1])
		with, _ = strconv.Atoi(m[2])
		after, _ = strconv.Atoi(m[3])
		return
	}
	idle, with, after := counts(native)
	assert.Equal(t, []int{1, 4, 1}, []int{idle, with, after}, "native")
	idle, with, after = counts(preloaded)
	t.Logf("a preloaded program has %d threads of the Go runtime", idle-1)
	assert.Greater(t, idle, 1)
	assert.LessOrEqual(t, idle, 1+6, "more runtime threads than docs/DIFFERENCES.md says")
	assert.Equal(t, []int{idle + 3, idle}, []int{with, after}, "preloaded")
}

var runtimeThreads = regexp.MustCompile(`(?m)^runtime threads: (\d+)\nruntime threads letting program signals through: (\d+)\n`)

// Loaded with dlopen (an interpreter's FFI), the library works, and never
// touches the program's own threads.  From a single-threaded program it
// sets the runtime threads' masks as when preloaded; once the program has
// a thread of its own it cannot tell the runtime's threads from the
// program's and leaves them (docs/DIFFERENCES.md).
func TestGoRuntimeUnderDlopen(t *testing.T) {
	prog, lib := testenv.Artifact(t, "tests/gort_dlopen"), testenv.GoLib(t)
	t.Run("single-threaded", func(t *testing.T) {
		r := testenv.Run(t, testenv.Opts{Store: testenv.NewStore(t)}, prog, lib)
		require.Equal(t, 0, r.Code, r.String())
		assert.Contains(t, r.Stdout, "goshm_shmget, goshm_shmctl: ok\nmain thread blocks: none\n")
		m := runtimeThreads.FindStringSubmatch(r.Stdout)
		require.NotNil(t, m, r.Stdout)
		assert.NotEqual(t, "0", m[1], "no runtime thread: the test means nothing")
		assert.Equal(t, "0", m[2], r.Stdout)
	})
	t.Run("threaded", func(t *testing.T) {
		r := testenv.Run(t, testenv.Opts{Store: testenv.NewStore(t)}, prog, lib, "threaded")
		require.Equal(t, 0, r.Code, r.String())
		assert.Contains(t, r.Stdout,
			"goshm_shmget, goshm_shmctl: ok\nmain thread blocks: none\nprogram thread blocks: none\n")
		require.Regexp(t, runtimeThreads, r.Stdout)
		t.Logf("%s", r.Stdout)
	})
}
