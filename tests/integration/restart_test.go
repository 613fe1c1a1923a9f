package integration

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

const alphabet = "a b c d e f g h i j k l m n o p q r s t u v w x y z"

// The write-up's experiment with the kernel's own restart mechanism: the
// writer runs in one IPC namespace, which dies with it; the reader runs in
// a fresh one.  Natively the segment is gone; under goshm it is there.
func TestRestartKeepsSegmentUnderGoshm(t *testing.T) {
	testenv.RequireRoot(t)
	wr := testenv.Artifact(t, "legacy/systemv_shm_wr")
	rd := testenv.Artifact(t, "legacy/systemv_shm_rd")

	t.Run("native loses it", func(t *testing.T) {
		w := testenv.Run(t, testenv.Opts{NewIPC: true}, wr)
		require.Equal(t, 0, w.Code, w.String())
		r := testenv.Run(t, testenv.Opts{NewIPC: true}, rd)
		assert.Equal(t, 1, r.Code, r.String())
		assert.Contains(t, r.Stdout, "SystemV Share Memory Create and Read Error: -1")
	})

	t.Run("goshm keeps it", func(t *testing.T) {
		store := testenv.NewStore(t)
		o := testenv.Opts{NewIPC: true, Preload: true, Store: store}
		w := testenv.Run(t, o, wr)
		require.Equal(t, 0, w.Code, w.String())
		assert.Contains(t, w.Stdout, "SystemV Share Memory Create and Write Ok")
		r := testenv.Run(t, o, rd)
		require.Equal(t, 0, r.Code, r.String())
		assert.Equal(t, alphabet, strings.TrimSpace(strings.Split(r.Stdout, "\n")[0]))
		assert.Contains(t, r.Stdout, "SystemV Share Memory Create and Read Ok")
		assert.Empty(t, r.Stderr)
	})

	t.Run("relinked programs use the store without LD_PRELOAD", func(t *testing.T) {
		store := testenv.NewStore(t)
		o := testenv.Opts{NewIPC: true, Store: store}
		w := testenv.Run(t, o, testenv.Artifact(t, "linked/systemv_shm_wr"))
		require.Equal(t, 0, w.Code, w.String())
		r := testenv.Run(t, o, testenv.Artifact(t, "linked/systemv_shm_rd"))
		require.Equal(t, 0, r.Code, r.String())
		assert.Equal(t, alphabet, strings.TrimSpace(strings.Split(r.Stdout, "\n")[0]))
		// And the preloaded reader sees what the relinked writer wrote.
		r = testenv.Run(t, testenv.Opts{NewIPC: true, Preload: true, Store: store}, rd)
		require.Equal(t, 0, r.Code, r.String())
	})
}

// The mmap pair of the write-up survives natively: that is the mechanism
// goshm builds on.
func TestMmapFileSurvivesRestart(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	w := testenv.Run(t, testenv.Opts{NewIPC: true, Dir: dir}, testenv.Artifact(t, "legacy/mmap_shm_wr"))
	require.Equal(t, 0, w.Code, w.String())
	r := testenv.Run(t, testenv.Opts{NewIPC: true, Dir: dir}, testenv.Artifact(t, "legacy/mmap_shm_rd"))
	require.Equal(t, 0, r.Code, r.String())
	assert.Equal(t, alphabet, strings.TrimSpace(strings.Split(r.Stdout, "\n")[0]))
}
