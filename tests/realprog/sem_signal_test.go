package realprog

import (
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// A signal that comes while a blocking semop registers as a waiter: the
// kernel's semop fails with EINTR (the handler ran before the call could
// sleep).  goshm's registration holds the set's lock, with the program's
// signals held back; they are let go after the unlock, and the handler
// ran there, before the futex wait, which then waited for the semaphore:
// for ever here.  semop now looks for such a signal before it lets them
// go (capi/engine/semop.c, gs_signal_handler_due).  gdb stops the call at
// that look, after the registration; the test sends SIGUSR1 meanwhile.
func TestSignalWhileSemopRegisters(t *testing.T) {
	testenv.RequireRoot(t)
	store := testenv.NewStore(t)
	ns := newIPCNS(t)
	call := stopProgram(t, ns, store, "tests/sem_signal_wait", "SEM_SIGNAL_STOP",
		[]string{"gs_signal_handler_due"})
	require.NoError(t, syscall.Kill(call.pid, syscall.SIGUSR1))
	out := call.finish()
	assert.Contains(t, out, "semop -1 EINTR handled 1", "the handler ran, and semop failed with EINTR")
}
