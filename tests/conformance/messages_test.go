package conformance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// Issue 14, defect 11: limits and the one line on stderr.

// Under an RLIMIT_AS too tight to map the 2 MiB registry (the program
// itself goes on running), every call fails with ENOMEM -- and, like every
// other store error, says why in one line naming the store (there was
// none).
func TestAddressSpaceLimit(t *testing.T) {
	testenv.RequireRoot(t)
	store, id := segmentWithData(t)
	r := storeOps(t, store, nil, "as-limit", "512", "find", damageKey, "private", "4096",
		"create", "0x5555", "4096", "stat", id, "attach", id)
	require.Equal(t, 0, r.Code, r.String())
	want := map[string]string{"as-limit 512": "0", "find " + damageKey: "-1 ENOMEM",
		"private 4096": "-1 ENOMEM", "create 0x5555": "-1 ENOMEM", "stat " + id: "-1 ENOMEM",
		"attach " + id: "-1 ENOMEM"}
	assert.Equal(t, want, pick(opResults(r.Stdout), want), r.String())
	assertOneDiagnostic(t, r, store)
}

// A store on a read-only file system: shmget(IPC_CREAT) fails with EPERM,
// and the line says the file system is read-only -- not to give the
// directory mode 1777, which would not help.
func TestReadOnlyStoreMessage(t *testing.T) {
	testenv.RequireRoot(t)
	for _, c := range []struct{ name, setup string }{
		{"a store made before the remount", `env LD_PRELOAD="$LIB" "$1" private 4096 >/dev/null && mount -o remount,ro "$D"`},
		{"no store yet", `mount -o remount,ro "$D"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, store := onTmpfs(t, "4m", c.setup, nil, "create", "0x4321", "4096")
			require.Equal(t, 0, r.Code, r.String())
			assert.Equal(t, "-1 EPERM", opResults(r.Stdout)["create 0x4321"], r.String())
			assertOneDiagnostic(t, r, store)
			assert.NotContains(t, r.Stderr, "1777", "no advice to chmod a read-only store")
			assert.Regexp(t, `(?i)read-only`, r.Stderr)
		})
	}
}

// A store whose segments/ directory was deleted (it held nothing): the
// next shmget(IPC_CREAT) makes it again, and succeeds.  It gave EPERM.
func TestDeletedSegmentsDirectoryIsMadeAgain(t *testing.T) {
	testenv.RequireRoot(t)
	store := newStore(t)
	r := storeOps(t, store, nil, "private", "4096", "rm", "$")
	require.Equal(t, 0, r.Code, r.String())
	require.Equal(t, "0", opResults(r.Stdout)["rm $"], r.String())
	require.NoError(t, os.RemoveAll(filepath.Join(store, "segments")))

	r = storeOps(t, store, nil, "create", "0x4455", "4096", "attach", "$", "write", "detach", "rm", "$")
	require.Equal(t, 0, r.Code, r.String())
	v := values(r.Stdout)
	require.Len(t, v, 5, r.String())
	assert.Regexp(t, `^\d+$`, v[0], "an id, the kernel's next (1)\n%s", r)
	assert.Equal(t, []string{"0", "0", "0", "0"}, v[1:], r.String())
	assert.Empty(t, r.Stderr)
	assert.Empty(t, segmentFiles(t, store))
}

// Under umask 077, the directories the first shmget makes above GOSHM_DIR
// get mode 0755 (docs/FORMAT.md), so that other users can reach the
// store, and the store itself 1777.  They got 0700.
func TestMissingParentsUnderUmask077(t *testing.T) {
	testenv.RequireRoot(t)
	top := filepath.Dir(testenv.NewStore(t)) // exists, mode 0755
	store := filepath.Join(top, "a", "b", "store")
	r := runGoshm(t, asRoot, store, "sh", "-c", `umask 077 && exec "$@"`, "sh",
		testenv.Artifact(t, "tests/conf_store_ops"), "private", "4096")
	require.Equal(t, 0, r.Code, r.String())
	require.Regexp(t, `^\d+$`, opResults(r.Stdout)["private 4096"], r.String())
	modes := map[string]string{}
	for _, d := range []string{"a", "a/b", "a/b/store"} {
		fi, err := os.Stat(filepath.Join(top, d))
		require.NoError(t, err)
		modes[d] = strings.TrimPrefix(fi.Mode().String(), "d")
	}
	assert.Equal(t, map[string]string{"a": "rwxr-xr-x", "a/b": "rwxr-xr-x", "a/b/store": "trwxrwxrwx"}, modes,
		"parents 0755, the store 1777")
}
