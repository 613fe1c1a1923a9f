package conformance

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// TestSemRestart is the pattern of a segment guarded by a semaphore
// across a container restart: the first run creates both and has the
// SEM_UNDO holder SIGKILLed in its critical section; the second run, in
// a fresh IPC namespace with the same store, must find both (no ENOENT),
// the count kept, and the lock released by the kernel-driven undo.
func TestSemRestart(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/sem_restart")
	store := newStore(t)
	first := runSemGoshm(t, asRoot, store, prog, "first", "0x5e5e")
	require.Equal(t, 0, first.Code, "first run\n%s", first)
	require.Equal(t, "holder in critical section: semval=0\nholder killed\n", first.Stdout)
	again := runSemGoshm(t, asRoot, store, prog, "again", "0x5e5e")
	require.Equal(t, 0, again.Code, "second run\n%s", again)
	require.Equal(t, "initialised=1 items=3 count=3\nlocked; holder was updating: 1\nsemval=1\n",
		again.Stdout)

	// Natively the semaphore dies with the namespace: what goshm fixes.
	native := runNative(t, asRoot, prog, "again", "0x5e5e")
	require.NotEqual(t, 0, native.Code, "natively a fresh namespace has no segment\n%s", native)
}
