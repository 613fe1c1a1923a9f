package conformance

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// Issue 14, defect 12: what a power cut (or a SIGKILL) leaves of a store's
// first use, or of a creation: temporary files that goshm gc must remove,
// saying so.  The registry's temporary is .registry.<pid>.<16 hex
// digits>.tmp in the store directory (capi/engine/store.c,
// create_registry_temp); a data file's is segments/.tmp-<gen>.<pid>
// (segfile.c).
func TestGCRemovesTemporaries(t *testing.T) {
	testenv.RequireRoot(t)
	const regTemp = ".registry.4242.0123456789abcdef.tmp"
	const dataTemp = ".tmp-77.4242"

	// plant writes a file of arbitrary content into the store, as a power
	// cut during a first use left it: some time ago (gc leaves a registry
	// temporary younger than a minute alone while no registry is there:
	// its maker may still be at work).
	plant := func(t *testing.T, path string) {
		t.Helper()
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o777))
		require.NoError(t, os.WriteFile(path, []byte("half a registry, cut short\n"), 0o666))
		old := time.Now().Add(-10 * time.Minute)
		require.NoError(t, os.Chtimes(path, old, old))
	}
	// gc runs goshm gc and checks that it removed path and said so.
	gc := func(t *testing.T, store, path string) {
		t.Helper()
		r := goshmCLI(t, store, "gc")
		require.Equal(t, 0, r.Code, r.String())
		assert.Contains(t, r.Stdout, filepath.Base(path), "gc says what it removed")
		assert.NoFileExists(t, path)
	}
	// works checks that a store is usable afterwards.
	works := func(t *testing.T, store string) {
		t.Helper()
		r := storeOps(t, store, nil, "private", "4096", "attach", "$", "detach", "rm", "$")
		require.Equal(t, 0, r.Code, r.String())
		v := values(r.Stdout)
		require.Len(t, v, 4, r.String())
		assert.Regexp(t, `^\d+$`, v[0], r.String())
		assert.Equal(t, []string{"0", "0", "0"}, v[1:], "attach, detach, IPC_RMID\n%s", r)
		assert.Empty(t, r.Stderr)
	}

	t.Run("the registry's temporary alone", func(t *testing.T) {
		store := newStore(t)
		path := filepath.Join(store, regTemp)
		plant(t, path)
		gc(t, store, path)
		works(t, store)
	})

	t.Run("the registry's temporary beside a registry", func(t *testing.T) {
		store := newStore(t)
		works(t, store)
		path := filepath.Join(store, regTemp)
		plant(t, path)
		gc(t, store, path)
		works(t, store)
	})

	// (This one passes already: gc removes every file of segments/ that
	// no live slot names.)
	t.Run("a data file's temporary", func(t *testing.T) {
		store := newStore(t)
		works(t, store)
		path := filepath.Join(store, "segments", dataTemp)
		plant(t, path)
		gc(t, store, path)
		works(t, store)
	})
}
