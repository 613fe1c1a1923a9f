package realprog

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// An X server (Xvfb) attaches its clients' MIT-SHM segments by shmid, with
// the kernel's shmat, in its own IPC namespace: it can only attach kernel
// segments.  So a client under goshm needs GOSHM_KEYS to leave IPC_PRIVATE
// to the kernel (docs/DIFFERENCES.md, "GOSHM_KEYS").  Checked with Debian's
// x11perf -shmput10 and with tests/cprogs/x11_shm, which at the same time
// keeps a counter in a keyed goshm segment that survives a restart.
func TestMITSHMUnderGoshm(t *testing.T) {
	testenv.RequireRoot(t)
	for _, p := range []string{"Xvfb", "x11perf"} {
		_, err := exec.LookPath(p)
		require.NoError(t, err, "%s is needed (Debian's xvfb and x11-apps; make test installs them)", p)
	}
	client := testenv.Artifact(t, "tests/x11_shm")
	store := filepath.Join(workDir(t), "store")
	const key = "0x5001"

	displays := 70 + os.Getpid()%100*10
	xserver := func(t *testing.T) (*ipcNS, []string) {
		ns := newIPCNS(t)
		displays++
		display := fmt.Sprintf(":%d", displays)
		log := filepath.Join(workDir(t), "xvfb.log")
		// x11perf draws in a 600x600 window: the screen must hold it.
		x := start(t, log, cat(ns.enter(), []string{"Xvfb", display, "-nolisten", "tcp",
			"-screen", "0", "1024x768x24"})...)
		require.Eventually(t, func() bool {
			r := run(t, 5*time.Second, cat(ns.enter(), []string{"env", "DISPLAY=" + display,
				client, "--probe"})...)
			return r.Code == 0 || x.exited()
		}, 20*time.Second, 100*time.Millisecond, "Xvfb does not answer")
		require.False(t, x.exited(), x.output(t))
		return ns, []string{"env", "DISPLAY=" + display}
	}
	shmput := func(argv []string) testenv.Result {
		return run(t, time.Minute, cat(argv, []string{"x11perf", "-repeat", "1", "-time", "1", "-shmput10"})...)
	}

	t.Run("natively", func(t *testing.T) {
		ns, display := xserver(t)
		r := run(t, time.Minute, cat(ns.enter(), display, []string{client, key})...)
		require.Equal(t, 0, r.Code, r.String())
		assert.Equal(t, "counter 1\nxshm ok\n", r.Stdout)
		r = shmput(cat(ns.enter(), display))
		require.Equal(t, 0, r.Code, r.String())
		assert.Contains(t, r.Stdout, "ShmPutImage 10x10 square")
	})

	t.Run("GOSHM_KEYS leaves IPC_PRIVATE to the kernel", func(t *testing.T) {
		ns, display := xserver(t)
		keys := []string{"GOSHM_KEYS=0x5000-0x5fff"}
		argv := cat(ns.enter(), display, shimEnv(t, store), keys)
		r := run(t, time.Minute, cat(argv, []string{client, key})...)
		require.Equal(t, 0, r.Code, r.String())
		assert.Equal(t, "counter 1\nxshm ok\n", r.Stdout)
		assert.Empty(t, r.Stderr)
		r = shmput(argv)
		require.Equal(t, 0, r.Code, r.String())
		assert.Contains(t, r.Stdout, "ShmPutImage 10x10 square")

		// A restart: a new IPC namespace and X server; the counter, in
		// goshm, goes on; MIT-SHM still works.
		ns, display = xserver(t)
		r = run(t, time.Minute, cat(ns.enter(), display, shimEnv(t, store), keys,
			[]string{client, key})...)
		require.Equal(t, 0, r.Code, r.String())
		assert.Equal(t, "counter 2\nxshm ok\n", r.Stdout)
	})

	t.Run("everything interposed", func(t *testing.T) {
		ns, display := xserver(t)
		argv := cat(ns.enter(), display, shimEnv(t, filepath.Join(workDir(t), "store2")))
		r := run(t, time.Minute, cat(argv, []string{client, key})...)
		require.Equal(t, 0, r.Code, r.String())
		// The X server's shmat of a goshm id reaches the kernel segment
		// with that id in its namespace, if any -- none (BadAccess), or
		// one of goshm's one-byte presence segments (BadValue when the
		// image does not fit): MIT-SHM fails either way.
		assert.Regexp(t, `^counter 1\nxshm failed: (XShmAttach|XShmPutImage): Bad`, r.Stdout)
		r = shmput(argv)
		assert.NotContains(t, r.Stdout, "ShmPutImage 10x10 square", "x11perf cannot use MIT-SHM\n%s", r)

		// goshm doctor says why, and what to set.
		d := run(t, time.Minute, testenv.Artifact(t, "goshm"), "doctor")
		routing := ""
		for _, l := range strings.Split(d.Stdout, "\n") {
			if strings.Contains(l, "routing") {
				routing = l
			}
		}
		assert.Contains(t, routing, "an X server attaching a client's IPC_PRIVATE MIT-SHM segment", d.Stdout)
		assert.Contains(t, routing, "GOSHM_KEYS")
	})
}
