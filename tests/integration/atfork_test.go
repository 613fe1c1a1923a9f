package integration

import (
	"testing"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// A program linked with the C library before libgoshm.so, which calls
// goshm's API: nothing comes after goshm in the lookup order there, and
// its fork handlers must be registered all the same
// (capi/engine/atfork.c).  A child forked while another thread waits in
// a goshm call for the registry's lock makes a call of its own
// (tests/cprogs/fork_handlers_linked.c); without the handlers that
// thread's store mutex stays locked in the child, which hung until its
// alarm.
func TestForkHandlersWithCLibraryFirst(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/fork_handlers_linked")
	assertPrints(t, testenv.Opts{Store: testenv.NewStore(t), NewIPC: true}, "child created\nthread created\n", prog)
}
