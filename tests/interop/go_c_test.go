package interop

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/goshm"
	"github.com/goshm/goshm/tests/internal/testenv"
)

// This Go process (package goshm) and a C process under the library in
// another IPC namespace share a segment: each sees the other's writes at
// once, with no call in between, and each counts the other's attach.
func TestGoAndCSeeEachOthersWrites(t *testing.T) {
	testenv.RequireRoot(t)
	store := testenv.NewStore(t)
	st, err := goshm.Open(store)
	require.NoError(t, err)
	seg, err := st.Get(0x4242, 4096, goshm.IPC_CREAT, 0o600)
	require.NoError(t, err)
	b, err := seg.Attach(0)
	require.NoError(t, err)
	defer seg.Detach(b)

	c := startPoke(t, testenv.Opts{NewIPC: true, Preload: true, Store: store})
	id := c.do(t, "get 0x4242 0 0")
	assert.Equal(t, strconv.Itoa(seg.ID()), id, "the same id in C")
	c.do(t, "at "+id)

	copy(b[100:], "from-go")
	assert.Equal(t, "from-go", c.do(t, "r 100 7"))
	c.do(t, "w 200 from-c")
	assert.Equal(t, "from-c", string(b[200:206]))
	copy(b[100:], "again!!")
	assert.Equal(t, "again!!", c.do(t, "r 100 7"))

	// nattch: one attach here, one in the C process's namespace.
	s, err := seg.Stat()
	require.NoError(t, err)
	assert.Equal(t, uint64(2), s.Nattch)
	assert.Equal(t, "2", c.do(t, "nattch "+id))

	c.do(t, "dt")
	s, err = seg.Stat()
	require.NoError(t, err)
	assert.Equal(t, uint64(1), s.Nattch)

	// The C process's namespace dies with it; its attach is not counted.
	c.do(t, "at "+id)
	c.close()
	s, err = seg.Stat()
	require.NoError(t, err)
	assert.Equal(t, uint64(1), s.Nattch)
	assert.Equal(t, "from-c", string(b[200:206]), "the bytes stay")
}

// A segment the Go side created gives the C side the errno values the
// kernel gives (C notation for flags: 01000 is IPC_CREAT, 02000 IPC_EXCL).
func TestGoAndCAgreeOnErrors(t *testing.T) {
	testenv.RequireRoot(t)
	store := testenv.NewStore(t)
	st, err := goshm.Open(store)
	require.NoError(t, err)
	seg, err := st.Get(0x77, 100, goshm.IPC_CREAT, 0o600)
	require.NoError(t, err)
	c := startPoke(t, testenv.Opts{NewIPC: true, Preload: true, Store: store})
	for _, tc := range []struct{ cmd, want string }{
		{"get 0x77 100 01600", strconv.Itoa(seg.ID())}, // IPC_CREAT finds it
		{"get 0x77 100 03600", "ERR 17"},               // IPC_CREAT|IPC_EXCL: EEXIST
		{"get 0x77 101 0", "ERR 22"},                   // larger than the segment: EINVAL
		{"get 0x78 100 0", "ERR 2"},                    // no such key: ENOENT
	} {
		_, err := c.in.Write([]byte(tc.cmd + "\n"))
		require.NoError(t, err)
		assert.Equal(t, tc.want, c.line(t), tc.cmd)
	}
}
