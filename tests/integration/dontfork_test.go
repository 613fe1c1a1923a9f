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
	libs := map[string]string{"libgoshm.so": testenv.CLib(t), "libgoshm-go.so": testenv.GoLib(t)}
	for name, lib := range libs {
		t.Run(name, func(t *testing.T) {
			o := testenv.Opts{NewIPC: true, Preload: true, Lib: lib, Store: testenv.NewStore(t)}
			r := testenv.Run(t, o, prog, "2000")
			require.Equal(t, 0, r.Code, r.String())
			// Both kinds of child were made: the race was run.
			assert.Regexp(t, `^ok 2000 [1-9][0-9]*\n$`, r.Stdout)
			assert.NotEqual(t, "ok 2000 2000\n", r.Stdout)
		})
	}
}

// MADV_DONTFORK over goshm's own pages -- the attach's presence attach and
// the segment's token, which lie among the program's mappings -- and not
// over the attach: the child inherits the attach, so it counts it (2 with
// the parent's) and keeps the token mapped for other namespaces' probes
// (tests/cprogs/presence_advice.c; the engine before this put 1 and no).
func TestDontforkOverEnginePages(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/presence_advice")
	libs := map[string]string{"libgoshm.so": testenv.CLib(t), "libgoshm-go.so": testenv.GoLib(t)}
	for name, lib := range libs {
		t.Run(name, func(t *testing.T) {
			o := testenv.Opts{NewIPC: true, Preload: true, Lib: lib, Store: testenv.NewStore(t)}
			r := testenv.Run(t, o, prog)
			require.Equal(t, 0, r.Code, r.String())
			assert.Equal(t, "child nattch=2 token=yes\n", r.Stdout)
		})
	}
}
