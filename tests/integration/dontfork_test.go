package integration

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// One thread advises an attach MADV_DONTFORK and MADV_DOFORK in turn while
// the main thread forks 2000 children: each child that has the attach
// counts it and detaches it, each that has not counts only the parent's
// and gets EINVAL from shmdt there (tests/cprogs/dontfork_race.c).  An
// engine that updates its table after the program's madvise, outside the
// mutex fork()'s handlers take, fails within a few hundred forks.
func TestForkRacingDontforkAdvice(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/dontfork_race")
	underEachLibrary(t, func(t *testing.T, o testenv.Opts) {
		r := testenv.Run(t, o, prog, "2000")
		require.Equal(t, 0, r.Code, r.String())
		// Both kinds of child were made: the race was run.
		assert.Regexp(t, `^ok 2000 [1-9][0-9]*\n$`, r.Stdout)
		assert.NotEqual(t, "ok 2000 2000\n", r.Stdout)
	})
}

// MADV_DONTFORK over goshm's own pages -- the attach's presence attach and
// the segment's token, which lie among the program's mappings -- and not
// over the attach: the child inherits the attach, so it counts it (2 with
// the parent's) and keeps the token mapped for other namespaces' probes
// (tests/cprogs/presence_advice.c; the engine before this put 1 and no).
func TestDontforkOverEnginePages(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/presence_advice")
	underEachLibrary(t, func(t *testing.T, o testenv.Opts) {
		assertPrints(t, o, "child nattch=2 token=yes\n", prog)
	})
}

// A dependency advises memory under a lock of its own that its fork
// prepare handler takes; goshm's prepare handler, registered later, runs
// first and holds the engine's mutexes while the dependency's waits for
// that lock.  The library's madvise must not wait for the engine's mutexes
// then (tests/cprogs/fork_lock_advice.c): fresh pages advised
// MADV_WIPEONFORK or MADV_DONTFORK (a random number generator's state),
// or an attach advised MADV_DONTFORK and MADV_DOFORK.  The library that
// waited hung at the first fork that met an advice.
func TestForkWhileAdviceUnderLibraryLock(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/fork_lock_advice")
	underEachLibrary(t, func(t *testing.T, o testenv.Opts) {
		for _, mode := range []string{"wipe", "dontfork", "attach"} {
			t.Run(mode, func(t *testing.T) {
				assertPrints(t, o, "forks 50\n", prog, mode)
			})
		}
	})
}

// MADV_DONTFORK (or MADV_WIPEONFORK) over every page goshm mapped for its
// own use -- its attach table, its store list and registry, its semaphore
// cache and sets -- as a program advising more than it mapped does: the
// child must find the engine whole, in its fork handler and in its calls
// (tests/cprogs/engine_pages_dontfork.c), also while another thread
// keeps advising ("race": the engine undoes the advice before a fork can
// copy it; undone after, a child crashed within 5 forks).  The engine
// before this crashed the child in its fork handler (DONTFORK), or left
// it with an empty table that lost its attach (WIPEONFORK).
func TestForkAdviceOverEngineMemory(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/engine_pages_dontfork")
	underEachLibrary(t, func(t *testing.T, o testenv.Opts) {
		whole := "child nattch=2 shmget=same detach=0 after=1 sem=2\nparent nattch=1 status=0\n"
		for mode, want := range map[string]string{
			"dontfork": whole,
			"wipe":     whole,
			"race":     "race ok 2000\n",
		} {
			t.Run(mode, func(t *testing.T) {
				assertPrints(t, o, want, prog, "0x7e5f0c1", mode)
			})
		}
	})
}

// Two threads advise one attach of three pages: MADV_DONTFORK on its first
// page (its other two already out, so the library asks /proc, without its
// mutex, whether the whole attach is out) and MADV_DOFORK on all of it.
// Whichever comes last, a child inherits pieces and detaches them at the
// attach's address (tests/cprogs/dontfork_pieces_race.c).  A library that
// applies /proc's answer after the other advice fails within a few hundred
// rounds.
func TestDontforkPiecesRacingDofork(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/dontfork_pieces_race")
	underEachLibrary(t, func(t *testing.T, o testenv.Opts) {
		assertPrints(t, o, "ok 2000\n", prog, "2000")
	})
}

// A program's dependency registers fork handlers that call
// madvise(MADV_DOFORK / MADV_DONTFORK), before the preloaded library's
// constructor runs.  Its prepare handler must not wait for goshm's
// mutexes on its own thread: goshm's handlers are registered before it
// (capi/engine/atfork.c), so they run after it, and would goshm's ever
// hold them, the advice is passed on alone (tests/cprogs/
// fork_handler_advice.c; the library that took them first hung in the
// first fork).
func TestForkHandlerAdviceDoesNotHang(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/fork_handler_advice")
	underEachLibrary(t, func(t *testing.T, o testenv.Opts) {
		assertPrints(t, o, "ok forks=2 advised=4\n", "timeout", "20", prog)
	})
}
