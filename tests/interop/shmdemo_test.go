package interop

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

const letters = "a b c d e f g h i j k l m n o p q r s t u v w x y z \n"

// Every step in its own fresh IPC namespace, as after a container
// restart; the store is the only thing the two sides share.
func TestShmdemoSystemVWithC(t *testing.T) {
	testenv.RequireRoot(t)
	demo := testenv.Artifact(t, "shmdemo")
	cwr := testenv.Artifact(t, "legacy/systemv_shm_wr")
	crd := testenv.Artifact(t, "legacy/systemv_shm_rd")

	t.Run("Go writes, C reads", func(t *testing.T) {
		store := testenv.NewStore(t)
		w := testenv.Run(t, testenv.Opts{NewIPC: true, Store: store}, demo, "systemv-wr")
		require.Equal(t, 0, w.Code, w.String())
		assert.Equal(t, "SystemV Share Memory Create and Write Ok\n", w.Stdout)
		assert.Empty(t, w.Stderr)
		r := testenv.Run(t, testenv.Opts{NewIPC: true, Preload: true, Store: store}, crd)
		require.Equal(t, 0, r.Code, r.String())
		assert.Equal(t, letters+"SystemV Share Memory Create and Read Ok\n", r.Stdout)
	})

	t.Run("C writes, Go reads", func(t *testing.T) {
		store := testenv.NewStore(t)
		w := testenv.Run(t, testenv.Opts{NewIPC: true, Preload: true, Store: store}, cwr)
		require.Equal(t, 0, w.Code, w.String())
		r := testenv.Run(t, testenv.Opts{NewIPC: true, Store: store}, demo, "systemv-rd")
		require.Equal(t, 0, r.Code, r.String())
		assert.Equal(t, letters+"SystemV Share Memory Create and Read Ok\n", r.Stdout)
		assert.Empty(t, r.Stderr)
	})

	t.Run("the Go reader fails like the C reader", func(t *testing.T) {
		store := testenv.NewStore(t)
		c := testenv.Run(t, testenv.Opts{NewIPC: true, Preload: true, Store: store}, crd)
		g := testenv.Run(t, testenv.Opts{NewIPC: true, Store: store}, demo, "systemv-rd")
		assert.Equal(t, 1, c.Code, c.String())
		assert.Equal(t, 1, g.Code, g.String())
		assert.Equal(t, "SystemV Share Memory Create and Read Error: -1\n", c.Stdout)
		assert.Equal(t, c.Stdout, g.Stdout, "the same message")
		assert.Equal(t, "shmdemo: shmget key 0x0000162e (store "+store+"): no such file or directory\n", g.Stderr)
	})

	t.Run("a segment too small for the reader", func(t *testing.T) {
		// The C reader asks for 27 bytes of key 5678: EINVAL from shmget,
		// for the C program and for the Go demo alike.
		store := testenv.NewStore(t)
		poke := startPoke(t, testenv.Opts{NewIPC: true, Preload: true, Store: store})
		poke.do(t, "get 5678 10 01666")
		poke.close()
		c := testenv.Run(t, testenv.Opts{NewIPC: true, Preload: true, Store: store}, crd)
		g := testenv.Run(t, testenv.Opts{NewIPC: true, Store: store}, demo, "systemv-rd")
		assert.Equal(t, "SystemV Share Memory Create and Read Error: -1\n", c.Stdout)
		assert.Equal(t, c.Stdout, g.Stdout)
		assert.Contains(t, g.Stderr, "invalid argument")
	})
}

func TestShmdemoMmapWithC(t *testing.T) {
	testenv.RequireRoot(t)
	demo := testenv.Artifact(t, "shmdemo")
	dir := t.TempDir()

	w := testenv.Run(t, testenv.Opts{NewIPC: true, Dir: dir}, demo, "mmap-wr")
	require.Equal(t, 0, w.Code, w.String())
	assert.Equal(t, "Mmap Share Memory Create and Write Ok\n", w.Stdout)
	r := testenv.Run(t, testenv.Opts{NewIPC: true, Dir: dir}, testenv.Artifact(t, "legacy/mmap_shm_rd"))
	require.Equal(t, 0, r.Code, r.String())
	assert.Equal(t, letters+"Mmap Share Memory Read Ok\n", r.Stdout)

	other := dir + "/other.txt"
	w = testenv.Run(t, testenv.Opts{NewIPC: true}, testenv.Artifact(t, "legacy/mmap_shm_wr"), other)
	require.Equal(t, 0, w.Code, w.String())
	r = testenv.Run(t, testenv.Opts{NewIPC: true}, demo, "mmap-rd", other)
	require.Equal(t, 0, r.Code, r.String())
	assert.Equal(t, letters+"Mmap Share Memory Read Ok\n", r.Stdout)

	c := testenv.Run(t, testenv.Opts{Dir: dir}, testenv.Artifact(t, "legacy/mmap_shm_rd"), "missing")
	g := testenv.Run(t, testenv.Opts{Dir: dir}, demo, "mmap-rd", "missing")
	assert.Equal(t, 1, g.Code)
	assert.Equal(t, "Mmap Share Memory Read Error: -1\n", c.Stdout)
	assert.Equal(t, c.Stdout, g.Stdout)
}

func TestShmdemoUsage(t *testing.T) {
	demo := testenv.Artifact(t, "shmdemo")
	h := testenv.Run(t, testenv.Opts{}, demo, "--help")
	assert.Equal(t, 0, h.Code)
	assert.Contains(t, h.Stdout, "shmdemo systemv-wr")
	assert.Contains(t, h.Stdout, "Example:")
	for _, args := range [][]string{{}, {"nope"}, {"systemv-wr", "x"}, {"mmap-rd", "a", "b"}} {
		r := testenv.Run(t, testenv.Opts{}, append([]string{demo}, args...)...)
		assert.Equal(t, 2, r.Code, "%v: %s", args, r)
		assert.True(t, strings.HasPrefix(r.Stderr, "shmdemo: "), r.Stderr)
	}
}
