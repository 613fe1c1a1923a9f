package integration

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// The write-up's experiment with programs built against musl (as in
// Alpine images), which cannot load a glibc library: build/musl/libgoshm.so,
// the engine built by musl-gcc, keeps their segment across a restart,
// preloaded or linked in; the glibc and musl builds share one store; and
// goshm run picks the musl build for a musl program, saying so.
func TestMuslProgramsKeepSegment(t *testing.T) {
	testenv.RequireRoot(t)
	muslLib := testenv.Artifact(t, "musl/libgoshm.so") // make builds it (musl-tools)
	wr := testenv.Artifact(t, "musl/legacy/systemv_shm_wr")
	rd := testenv.Artifact(t, "musl/legacy/systemv_shm_rd")
	first := func(s string) string { return strings.TrimSpace(strings.Split(s, "\n")[0]) }

	t.Run("native loses it", func(t *testing.T) {
		w := testenv.Run(t, testenv.Opts{NewIPC: true}, wr)
		require.Equal(t, 0, w.Code, w.String())
		r := testenv.Run(t, testenv.Opts{NewIPC: true}, rd)
		assert.Equal(t, 1, r.Code, r.String())
	})

	t.Run("the glibc library cannot be preloaded", func(t *testing.T) {
		r := testenv.Run(t, testenv.Opts{NewIPC: true, Preload: true, Lib: testenv.CLib(t),
			Store: testenv.NewStore(t)}, wr)
		assert.NotEqual(t, 0, r.Code, r.String())
		assert.Contains(t, r.Stderr, "Error relocating")
	})

	t.Run("preloaded musl build keeps it", func(t *testing.T) {
		store := testenv.NewStore(t)
		o := testenv.Opts{NewIPC: true, Preload: true, Lib: muslLib, Store: store}
		w := testenv.Run(t, o, wr)
		require.Equal(t, 0, w.Code, w.String())
		r := testenv.Run(t, o, rd)
		require.Equal(t, 0, r.Code, r.String())
		assert.Equal(t, alphabet, first(r.Stdout))
		assert.Empty(t, r.Stderr)
		// The glibc programs under the glibc library read the same store.
		r = testenv.Run(t, testenv.Opts{NewIPC: true, Preload: true, Lib: testenv.CLib(t), Store: store},
			testenv.Artifact(t, "legacy/systemv_shm_rd"))
		require.Equal(t, 0, r.Code, r.String())
		assert.Equal(t, alphabet, first(r.Stdout))
	})

	t.Run("linked with the musl build keeps it", func(t *testing.T) {
		o := testenv.Opts{NewIPC: true, Store: testenv.NewStore(t)}
		w := testenv.Run(t, o, testenv.Artifact(t, "musl/linked/systemv_shm_wr"))
		require.Equal(t, 0, w.Code, w.String())
		r := testenv.Run(t, o, testenv.Artifact(t, "musl/linked/systemv_shm_rd"))
		require.Equal(t, 0, r.Code, r.String())
		assert.Equal(t, alphabet, first(r.Stdout))
	})

	t.Run("goshm run picks the musl build", func(t *testing.T) {
		goshm := testenv.Artifact(t, "goshm")
		o := testenv.Opts{NewIPC: true, Store: testenv.NewStore(t)}
		w := testenv.Run(t, o, goshm, "run", "--", wr)
		require.Equal(t, 0, w.Code, w.String())
		assert.Contains(t, w.Stderr, "uses musl (/lib/ld-musl-")
		assert.Contains(t, w.Stderr, "preloading "+muslLib)
		r := testenv.Run(t, o, goshm, "run", "--", rd)
		require.Equal(t, 0, r.Code, r.String())
		assert.Equal(t, alphabet, first(r.Stdout))
		// A glibc program still gets libgoshm.so, without a word.
		g := testenv.Run(t, o, goshm, "run", "--", testenv.Artifact(t, "legacy/systemv_shm_rd"))
		require.Equal(t, 0, g.Code, g.String())
		assert.Empty(t, g.Stderr)
		// A glibc library forced on a musl program is refused.
		f := testenv.Run(t, o, goshm, "run", "--lib", testenv.CLib(t), "--", rd)
		assert.Equal(t, 1, f.Code, f.String())
		assert.Contains(t, f.Stderr, "uses musl but")
	})
}
