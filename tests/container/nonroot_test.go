package container

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// A container running as an ordinary user (--user 1000:1000) with a
// volume that root owns.  It works when the store directory is sticky and
// world-writable (as goshm creates it, like /dev/shm), and otherwise fails
// loudly: shmget returns -1 with EPERM and goshm prints one line naming
// the directory and the fix.  Never a silent fallback to the kernel.
func TestDockerNonRootUser(t *testing.T) {
	t.Parallel()
	testImage(t)
	asUser := []string{"--user", "1000:1000"}
	asRoot := []string{"-u", "0:0"}

	t.Run("store created by root first", func(t *testing.T) {
		t.Parallel()
		vol := testenv.NewVolume(t)
		ctr := startIdle(t, append(append(asUser, underGoshm("/data/goshm")...), withVolume(vol, "/data")...)...)
		// The volume's root is root's, 0755: the user could not create
		// the store there.  Root's first call does, with mode 1777.
		mk := dexecWith(t, asRoot, ctr, "bigseg", "4096")
		require.Equal(t, 0, mk.Code, mk.String())
		assert.Equal(t, "1777 0:0", statDir(t, ctr, "/data/goshm"))

		writeAlphabet(t, ctr)
		restart(t, ctr)
		requireAlphabet(t, readAlphabet(t, ctr))
		// The segment's files are the user's, in root's directory.
		st := dexec(t, ctr, "sh", "-c", "stat -c %u:%g /data/goshm/segments/seg-*")
		require.Equal(t, 0, st.Code, st.String())
		for _, owner := range strings.Fields(st.Stdout) {
			assert.Equal(t, "1000:1000", owner, st.Stdout)
		}
	})

	t.Run("fresh volume on the image's 1777 directory", func(t *testing.T) {
		t.Parallel()
		// Docker copies the image's directory (mode included) into a new
		// volume mounted on it, so the user is the store's first caller.
		vol := testenv.NewVolume(t)
		ctr := startIdle(t, append(append(asUser, underGoshm(imageStore)...), withVolume(vol, imageStore)...)...)
		assert.Equal(t, "1777 0:0", statDir(t, ctr, imageStore))
		writeAlphabet(t, ctr)
		restart(t, ctr)
		requireAlphabet(t, readAlphabet(t, ctr))
	})

	t.Run("store directory owned by root, 0755: a clear failure", func(t *testing.T) {
		t.Parallel()
		vol := testenv.NewVolume(t)
		ctr := startIdle(t, append(append(asUser, underGoshm("/data/goshm")...), withVolume(vol, "/data")...)...)
		mk := dexecWith(t, asRoot, ctr, "mkdir", "-m", "0755", "/data/goshm")
		require.Equal(t, 0, mk.Code, mk.String())
		require.Equal(t, "755 0:0", statDir(t, ctr, "/data/goshm"))

		w := dexec(t, ctr, "systemv_shm_wr")
		assert.Equal(t, 1, w.Code, w.String())
		assert.Contains(t, w.Stdout, "SystemV Share Memory Create and Write Error: -1")
		requireOneStoreLine(t, w.Stderr, "/data/goshm")

		b := dexec(t, ctr, "bigseg", "4096")
		assert.Equal(t, 2, b.Code, b.String())
		assert.Equal(t, "shmget: EPERM", strings.TrimSpace(b.Stdout))
		requireOneStoreLine(t, b.Stderr, "/data/goshm")

		// Nothing was created natively instead.
		r := dexecWith(t, native, ctr, "systemv_shm_rd")
		requireLost(t, r)
	})
}

// statDir returns "MODE UID:GID" of a directory in ctr (mode in octal,
// without leading zeros, as stat %a prints it).
func statDir(t *testing.T, ctr, dir string) string {
	t.Helper()
	r := dexec(t, ctr, "stat", "-c", "%a %u:%g", dir)
	require.Equal(t, 0, r.Code, r.String())
	return strings.TrimSpace(r.Stdout)
}

// requireOneStoreLine asserts that stderr is goshm's single diagnostic
// line, naming the store directory and what to change.
func requireOneStoreLine(t *testing.T, stderr, dir string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	require.Len(t, lines, 1, "stderr: %q", stderr)
	line := lines[0]
	assert.True(t, strings.HasPrefix(line, "goshm: "), line)
	assert.Contains(t, line, dir)
	assert.Contains(t, line, "Permission denied")
	assert.Contains(t, line, "1777", "the line says what to change: %s", line)
}
