package container

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// A container started with a small SHMMAX (--sysctl kernel.shmmax=32 MiB),
// which it cannot raise: natively a 64 MiB segment is EINVAL; under goshm
// (LD_PRELOAD, or goshm run) it is created, attached and touched.
func TestDockerShmmax(t *testing.T) {
	t.Parallel()
	testImage(t)
	vol := testenv.NewVolume(t)
	ctr := startIdle(t, append(append([]string{"--sysctl", "kernel.shmmax=33554432"},
		underGoshm(imageStore)...), withVolume(vol, imageStore)...)...)
	const size = "67108864"

	sh := dexec(t, ctr, "cat", "/proc/sys/kernel/shmmax")
	require.Equal(t, "33554432", strings.TrimSpace(sh.Stdout), sh.String())
	// /proc/sys is read-only in a container that is not privileged.
	raise := dexec(t, ctr, "sh", "-c", "echo 68719476736 > /proc/sys/kernel/shmmax")
	assert.NotEqual(t, 0, raise.Code, "the container could raise SHMMAX: %s", raise)

	n := dexecWith(t, native, ctr, "bigseg", size)
	assert.Equal(t, 2, n.Code, n.String())
	assert.Equal(t, "shmget: EINVAL", strings.TrimSpace(n.Stdout))

	g := dexec(t, ctr, "bigseg", size)
	require.Equal(t, 0, g.Code, g.String())
	assert.Equal(t, "ok "+size, strings.TrimSpace(g.Stdout))

	t.Run("goshm run", func(t *testing.T) {
		testenv.Artifact(t, "goshm")
		r := dexecWith(t, native, ctr, "goshm", "run", "--", "bigseg", size)
		require.Equal(t, 0, r.Code, r.String())
		assert.Equal(t, "ok "+size, strings.TrimSpace(r.Stdout))
	})
}
