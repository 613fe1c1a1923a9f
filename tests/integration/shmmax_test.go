package integration

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// A container's old kernel caps segments at SHMMAX and the sysctl is read
// only.  In a fresh IPC namespace with kernel.shmmax = 32 MiB, a 64 MiB
// segment fails natively with EINVAL and works under goshm, whose limit is
// the kernel's default maximum.
func TestShmmaxDoesNotLimitGoshm(t *testing.T) {
	testenv.RequireRoot(t)
	big := testenv.Artifact(t, "tests/bigseg")
	const script = `echo 33554432 > /proc/sys/kernel/shmmax && exec "$@"`
	run := func(preload bool, store string, size string) testenv.Result {
		return testenv.Run(t, testenv.Opts{NewIPC: true, Preload: preload, Store: store},
			"sh", "-c", script, "sh", big, size)
	}
	native := run(false, "", "67108864")
	assert.Equal(t, 2, native.Code, native.String())
	assert.Equal(t, "shmget: EINVAL", strings.TrimSpace(native.Stdout))

	store := testenv.NewStore(t)
	shim := run(true, store, "67108864")
	require.Equal(t, 0, shim.Code, shim.String())
	assert.Equal(t, "ok 67108864", strings.TrimSpace(shim.Stdout))

	t.Run("2 GiB", func(t *testing.T) {
		r := run(true, store, "2147483648")
		require.Equal(t, 0, r.Code, r.String())
		assert.Equal(t, "ok 2147483648", strings.TrimSpace(r.Stdout))
	})
}
