package container

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// Two containers, each in its own IPC namespace (Docker's default), with
// one volume on GOSHM_DIR: they share live segments, and shm_nattch counts
// the attaches of both.  When one container is killed, its attaches stop
// counting.
func TestDockerTwoContainersShareSegments(t *testing.T) {
	t.Parallel()
	testImage(t)
	vol := testenv.NewVolume(t)
	opts := append(underGoshm(imageStore), withVolume(vol, imageStore)...)
	ctrA := startIdle(t, opts...)
	ctrB := startIdle(t, opts...)
	const key = "0x5157"

	a, idA := openSession(t, ctrA, "A", "-c", "4096", key)
	require.Equal(t, "ok", a.do("w hello from A"))
	b, idB := openSession(t, ctrB, "B", key)
	assert.Equal(t, idA, idB, "same segment, same shmid")
	assert.NotEqual(t, a.do("n"), b.do("n"), "each container has its own IPC namespace")

	// The same bytes, live: no reattach between a write and the read.
	assert.Equal(t, "data hello from A", b.do("r"))
	require.Equal(t, "ok", b.do("w reply from B"))
	assert.Equal(t, "data reply from B", a.do("r"))
	require.Equal(t, "ok", a.do("w second write from A"))
	assert.Equal(t, "data second write from A", b.do("r"))

	// One attach in A plus one in B, seen from either side and by a
	// process that does not attach.
	assert.Equal(t, "nattch 2 segsz 4096", a.do("s"))
	assert.Equal(t, "nattch 2 segsz 4096", b.do("s"))
	assert.Equal(t, "nattch 2 segsz 4096", statOnce(t, ctrB, key))
	testenv.Artifact(t, "goshm")
	st := dexec(t, ctrA, "goshm", "stat", strings.TrimPrefix(idA, "id "))
	require.Equal(t, 0, st.Code, st.String())
	assert.Regexp(t, `\bnattch=2\b`, st.Stdout)

	// Natively B's namespace has no such segment: the sharing is goshm's.
	n := dexecWith(t, append([]string{"-i"}, native...), ctrB, "ctr_shmsh", "-A", key)
	assert.Equal(t, 2, n.Code, n.String())
	assert.Equal(t, "shmget: ENOENT", strings.TrimSpace(n.Stdout))

	// A's container is killed: its attach no longer counts.
	killAndWait(t, ctrA)
	assert.Equal(t, "nattch 1 segsz 4096", b.do("s"))
	assert.Equal(t, "nattch 1 segsz 4096", statOnce(t, ctrB, key))
	assert.Equal(t, "data second write from A", b.do("r"))

	// And B's session detaches: nobody is attached anywhere.
	b.quit()
	assert.Equal(t, "nattch 0 segsz 4096", statOnce(t, ctrB, key))
}

// statOnce runs IPC_STAT on key in ctr from a process that does not attach.
func statOnce(t *testing.T, ctr, key string) string {
	t.Helper()
	r := testenv.Run(t, testenv.Opts{Stdin: "s\n", Env: []string{"DOCKER_BUILDKIT=0"}},
		"docker", "exec", "-i", ctr, "ctr_shmsh", "-A", key)
	require.Equal(t, 0, r.Code, r.String())
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	require.Len(t, lines, 2, r.String())
	return lines[1]
}

// Containers of different users on one store.  The liveness probe of
// another namespace's attaches is a file lease, which needs the token
// file's owner or CAP_LEASE.  Docker does not grant CAP_LEASE by default;
// root's container (CAP_SETUID) takes the lease as the token's owner, so
// with Docker's default capabilities it sees the user's container go.
func TestDockerTwoContainersDifferentUsers(t *testing.T) {
	t.Parallel()
	testImage(t)
	vol := testenv.NewVolume(t)
	opts := append(underGoshm(imageStore), withVolume(vol, imageStore)...)
	ctrA := startIdle(t, append([]string{"--user", "1000:1000"}, opts...)...)
	ctrB := startIdle(t, opts...)
	const key = "0x5158"

	a, _ := openSession(t, ctrA, "A", "-c", "4096", key)
	require.Equal(t, "ok", a.do("w from the user"))
	b, _ := openSession(t, ctrB, "B", key)
	assert.Equal(t, "data from the user", b.do("r"))
	assert.Equal(t, "nattch 2 segsz 4096", b.do("s"))
	assert.Equal(t, "nattch 2 segsz 4096", a.do("s"))

	killAndWait(t, ctrA)
	assert.Equal(t, "nattch 1 segsz 4096", b.do("s"))
}
