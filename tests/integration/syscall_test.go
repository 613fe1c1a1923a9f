package integration

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// A program that makes its System V calls through syscall(2) -- shmget,
// shmat, shmdt, shmctl, semget, semop, semctl by number -- reaches the
// store as one calling the C library's wrappers does: the segment and the
// semaphore set survive into a fresh IPC namespace, and the writer's
// namespace has no kernel segment or set of that key.  Natively they die
// with the namespace.  (Before, the library passed these numbers on to
// the kernel: the calls escaped goshm.)
func TestSyscallNumbersReachTheStore(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/syscall_ipc")

	t.Run("native loses them", func(t *testing.T) {
		w := testenv.Run(t, testenv.Opts{NewIPC: true}, prog, "write", "0x5150", "gone")
		require.Equal(t, 0, w.Code, w.String())
		r := testenv.Run(t, testenv.Opts{NewIPC: true}, prog, "read", "0x5150")
		assert.Equal(t, 1, r.Code, r.String())
		assert.Contains(t, r.Stdout, "shmget: No such file or directory")
	})

	underEachLibrary(t, func(t *testing.T, o testenv.Opts) {
		w := testenv.Run(t, o, "sh", "-c", prog+" write 0x5151 kept && ipcs -m -s")
		require.Equal(t, 0, w.Code, w.String())
		assert.Contains(t, w.Stdout, "id=")
		assert.NotContains(t, w.Stdout, fmt.Sprintf("0x%08x", 0x5151), "a kernel segment or set of the key")
		r := testenv.Run(t, o, prog, "read", "0x5151")
		require.Equal(t, 0, r.Code, r.String())
		assert.Contains(t, r.Stdout, "text=kept sem=4 nattch=1")
		assert.Empty(t, r.Stderr)
		// The reader removed both: a second reader finds nothing.
		r = testenv.Run(t, o, prog, "read", "0x5151")
		assert.Equal(t, 1, r.Code, r.String())
		assert.Contains(t, r.Stdout, "shmget: No such file or directory")
	})
}
