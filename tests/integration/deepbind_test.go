package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// A plugin loaded with RTLD_DEEPBIND, as PHP loads its extensions, binds
// shmget to the C library before the global scope: without goshm's dlopen
// (capi/engine/deepbind.c) its segments went to the kernel and were lost
// at the restart.  Under both libraries, however the plugin is found (the
// host's RUNPATH, $ORIGIN, a path, lazily bound, a new namespace), its
// segment is in the store: a fresh IPC namespace reads it back; so is its
// semaphore set (deepbind.c once rebound only the names beginning with
// "shm").  The plugin's other symbols keep RTLD_DEEPBIND's isolation.
func TestDeepbindPluginReachesStore(t *testing.T) {
	testenv.RequireRoot(t)
	host := testenv.Artifact(t, "tests/deepbind_host")
	cases := []struct{ how, scope string }{
		{"bare", "plugin"}, {"origin", "plugin"}, {"path", "plugin"},
		{"lazy", "plugin"}, {"plain", "host"}, {"newns", "plugin"},
	}

	t.Run("native loses it", func(t *testing.T) {
		w := testenv.Run(t, testenv.Opts{NewIPC: true}, host, "path", "0x4711", "hello")
		require.Equal(t, 0, w.Code, w.String())
		r := testenv.Run(t, testenv.Opts{NewIPC: true}, host, "path", "0x4711")
		assert.NotEqual(t, 0, r.Code, r.String())
	})
	for name, lib := range libraries(t) {
		for i, c := range cases {
			t.Run(name+"/"+c.how, func(t *testing.T) {
				store := testenv.NewStore(t)
				o := testenv.Opts{NewIPC: true, Preload: true, Lib: lib, Store: store}
				key := fmt.Sprintf("%#x", 0x4711+i)
				text := "kept-" + c.how
				w := testenv.Run(t, o, host, c.how, key, text)
				require.Equal(t, 0, w.Code, w.String())
				assert.Contains(t, w.Stdout, "whoami="+c.scope+" ", "RTLD_DEEPBIND's isolation of other symbols")
				// Not the kernel's: in the writer's namespace the key has no
				// kernel segment (ipcs lists the kernel's only).
				k := testenv.Run(t, o, "sh", "-c", host+" "+c.how+" "+key+" >/dev/null && ipcs -m -s")
				require.Equal(t, 0, k.Code, k.String())
				assert.NotContains(t, k.Stdout, fmt.Sprintf("0x%08x", 0x4711+i))
				r := testenv.Run(t, o, host, c.how, key)
				require.Equal(t, 0, r.Code, r.String())
				assert.Contains(t, r.Stdout, fmt.Sprintf("text=%s sem=%d", text, len(text)))
				assert.Empty(t, r.Stderr)
			})
		}
	}
}

// The same plugin's shm_open: with GOSHM_POSIX=1 its object is in the
// store, though RTLD_DEEPBIND bound shm_open to the C library.
func TestDeepbindPluginPOSIXReachesStore(t *testing.T) {
	testenv.RequireRoot(t)
	host := testenv.Artifact(t, "tests/deepbind_host")
	for name, lib := range libraries(t) {
		for _, how := range []string{"path", "lazy", "plain", "newns"} {
			t.Run(name+"/"+how, func(t *testing.T) {
				store := testenv.NewStore(t)
				o := testenv.Opts{NewIPC: true, Preload: true, Lib: lib, Store: store,
					Env: []string{"GOSHM_POSIX=1"}}
				obj := fmt.Sprintf("goshm_deep_%d_%s", os.Getpid(), how)
				// Where it lands if goshm misses the call: never leave it.
				t.Cleanup(func() { os.Remove(filepath.Join("/dev/shm", obj)) })
				w := testenv.Run(t, o, host, how, "/"+obj, "kept-"+how)
				require.Equal(t, 0, w.Code, w.String())
				_, err := os.Stat(filepath.Join(store, "posix", obj))
				require.NoError(t, err, "the object is in the store, not in /dev/shm")
				r := testenv.Run(t, o, host, how, "/"+obj)
				require.Equal(t, 0, r.Code, r.String())
				assert.Contains(t, r.Stdout, "text=kept-"+how)
			})
		}
	}
}
