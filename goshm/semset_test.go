package goshm_test

import (
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/goshm"
)

func TestSemSetLifecycle(t *testing.T) {
	dir := t.TempDir() + "/store"
	st, err := goshm.Open(dir)
	require.NoError(t, err)

	sets, err := st.SemSets()
	require.NoError(t, err, "a store without sets")
	assert.Empty(t, sets)
	_, err = st.SemGet(0x5e01, 1, 0, 0)
	require.ErrorIs(t, err, syscall.ENOENT)

	ss, err := st.SemGet(0x5e01, 4, goshm.IPC_CREAT|goshm.IPC_EXCL, 0o640)
	require.NoError(t, err)
	_, err = st.SemGet(0x5e01, 4, goshm.IPC_CREAT|goshm.IPC_EXCL, 0o640)
	require.ErrorIs(t, err, syscall.EEXIST)
	_, err = st.SemGet(0x5e01, 5, 0, 0)
	require.ErrorIs(t, err, syscall.EINVAL, "more semaphores than the set has")
	again, err := st.SemGet(0x5e01, 0, 0, 0)
	require.NoError(t, err)
	assert.Equal(t, ss.ID(), again.ID())

	s, err := ss.Stat()
	require.NoError(t, err)
	assert.Equal(t, 0x5e01, s.Key)
	assert.Equal(t, 4, s.Nsems)
	assert.Equal(t, os.FileMode(0o640), s.Perm())
	assert.Equal(t, []uint16{0, 0, 0, 0}, s.Values)
	assert.True(t, s.Otime.IsZero(), "no semop yet")
	assert.False(t, s.Ctime.IsZero())

	sets, err = st.SemSets()
	require.NoError(t, err)
	require.Len(t, sets, 1)
	assert.Equal(t, ss.ID(), sets[0].ID)

	require.NoError(t, ss.Remove())
	require.ErrorIs(t, ss.Remove(), syscall.EINVAL)
	_, err = ss.Stat()
	require.ErrorIs(t, err, syscall.EINVAL)
	sets, err = st.SemSets()
	require.NoError(t, err)
	assert.Empty(t, sets)
}
