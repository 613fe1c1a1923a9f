package conformance

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// GOSHM_KEYS: goshm keeps the keys listed, and every other key and
// IPC_PRIVATE go to the kernel unchanged -- also their shmat, shmdt and
// shmctl, told apart by id -- while SHM_INFO and the SHM_STAT walk of ipcs
// see both worlds, and never goshm's own presence segments.  A "restart"
// (a fresh IPC namespace) keeps the goshm key only.
func TestRoutingByKey(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/route_mix")
	store := newStore(t)
	env := []string{"GOSHM_KEYS=0x5000-0x5fff"}
	o := testenv.Opts{Preload: true, NewIPC: true, Store: store, Env: env, Timeout: time.Minute}

	r := testenv.Run(t, o, prog, "make")
	require.Equal(t, 0, r.Code, r.String())
	assert.Empty(t, r.Stderr)
	want := `goshm key shmget = ok
kernel key shmget = ok
goshm id index >= 16384 = 1
goshm id in the kernel = 0
kernel key id in the kernel = 1
shmat both = ok ok
private segments in the kernel, attached = 40 of 40
no private id is the goshm id = 1
IPC_STAT goshm = ok nattch 1
IPC_STAT kernel = ok nattch 1
SHM_INFO used_ids = 42
SHM_STAT walk: segments 42, goshm's 1, kernel key's 1, one-byte 0
shmdt goshm = ok
shmdt kernel = ok
IPC_STAT goshm after shmdt = ok nattch 0
`
	assert.Equal(t, want, r.Stdout)

	r = testenv.Run(t, o, prog, "find")
	require.Equal(t, 0, r.Code, r.String())
	assert.Equal(t, `goshm key after restart = ok
kernel key after restart = ENOENT
goshm text = kept by goshm
rm goshm = ok
`, r.Stdout)
}

// A GOSHM_KEYS that cannot be read is not ignored: every call fails, with
// one line saying why (no silent fallback to either world).
func TestRoutingRefusesABadList(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/route_mix")
	for _, keys := range []string{"0x5000-", "bogus", "5-3", "1,,2,x"} {
		o := testenv.Opts{Preload: true, NewIPC: true, Store: newStore(t),
			Env: []string{"GOSHM_KEYS=" + keys}, Timeout: time.Minute}
		r := testenv.Run(t, o, prog, "find")
		require.Equal(t, 0, r.Code, r.String())
		assert.Equal(t, "goshm key after restart = EPERM\nkernel key after restart = EPERM\n", r.Stdout, keys)
		lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
		assert.Len(t, lines, 1, "%s: %s", keys, r.Stderr)
		assert.Contains(t, r.Stderr, "goshm: GOSHM_KEYS: cannot be read", keys)
	}
}
