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

// onTmpfs runs conf_store_ops OPS... under goshm in a private mount and
// IPC namespace, with the store on a tmpfs of the given size mounted
// there; setup is shell run after the mount (with $D the mount point).
func onTmpfs(t *testing.T, size, setup string, env []string, ops ...string) (testenv.Result, string) {
	t.Helper()
	mnt := t.TempDir()
	store := filepath.Join(mnt, "store")
	script := `mount -t tmpfs -o size="$SIZE" goshm-test "$D" && ` + setup +
		` && exec env LD_PRELOAD="$LIB" "$@"`
	argv := append([]string{"unshare", "--mount", "sh", "-c", script, "sh",
		testenv.Artifact(t, "tests/conf_store_ops")}, ops...)
	o := testenv.Opts{NewIPC: true, Store: store,
		Env: append([]string{"SIZE=" + size, "D=" + mnt, "LIB=" + testenv.Lib(t)}, env...)}
	return testenv.Run(t, o, argv...), store
}

// A store that cannot be used: EPERM from shmget (EACCES would send
// programs that pick keys by trial on to the next key, forever), EACCES
// from the other calls, and one readable line on stderr.  A store that
// does not exist is only created by a shmget that may create a segment;
// the other calls answer as for an empty store.
func TestUnusableStore(t *testing.T) {
	testenv.RequireRoot(t)

	t.Run("under a directory the user cannot write", func(t *testing.T) {
		parent := t.TempDir() // root's, mode 0700 or 0755
		require.NoError(t, os.Chmod(parent, 0o755))
		require.NoError(t, os.Chmod(filepath.Dir(parent), 0o755))
		store := filepath.Join(parent, "store")
		r := runGoshm(t, asUser, store, testenv.Artifact(t, "tests/conf_store_ops"),
			"private", "4096", "find", damageKey, "stat", "0", "info")
		require.Equal(t, 0, r.Code, r.String())
		got := opResults(r.Stdout)
		assert.Equal(t, "-1 EPERM", got["private 4096"], r.String())
		assert.Equal(t, "-1 ENOENT", got["find "+damageKey], r.String())
		assert.Equal(t, "-1 EINVAL", got["stat 0"], r.String())
		assert.Equal(t, "0", got["IPC_INFO"], r.String())
		assert.Equal(t, "0", got["SHM_INFO"], r.String())
		assertOneDiagnostic(t, r, store)
		assert.Contains(t, r.Stderr, "Permission denied")
		assert.NoDirExists(t, store)
	})

	t.Run("on a read-only file system", func(t *testing.T) {
		r, store := onTmpfs(t, "4m",
			`env LD_PRELOAD="$LIB" "$1" private 4096 >/dev/null && mount -o remount,ro "$D"`, nil,
			"private", "4096", "find", damageKey, "stat", "0")
		require.Equal(t, 0, r.Code, r.String())
		assertStoreErrors(t, r)
		assertOneDiagnostic(t, r, store)
		assert.Contains(t, r.Stderr, "Read-only file system")
	})

	// A path that cannot be a store at all: never ENAMETOOLONG, which
	// shmget and shmctl do not give, nor ENOENT, which means "no key".
	t.Run("GOSHM_DIR longer than PATH_MAX", func(t *testing.T) {
		store := "/tmp/" + strings.Repeat("x", 4090)
		r := runGoshm(t, asRoot, store, testenv.Artifact(t, "tests/conf_store_ops"),
			"private", "4096", "find", damageKey, "stat", "0")
		require.Equal(t, 0, r.Code, r.String())
		assertStoreErrors(t, r)
		assert.Equal(t, 1, strings.Count(r.Stderr, "\n"), r.Stderr)
		assert.Contains(t, r.Stderr, "cannot be the store: File name too long; set GOSHM_DIR to an absolute path")
	})
}

// A full file system: ENOSPC at shmget for a segment that does not fit
// (its blocks are reserved), never a SIGBUS later -- also when a segment
// fills the file system to the last block.  GOSHM_SPARSE=1 reserves
// nothing, so shmget succeeds.
func TestFullFileSystem(t *testing.T) {
	testenv.RequireRoot(t)

	t.Run("ENOSPC for what does not fit", func(t *testing.T) {
		r, _ := onTmpfs(t, "4m", "true", nil,
			"private", "8388608", "private", "4096", "attach", "$", "write", "detach", "info")
		require.Equal(t, 0, r.Code, r.String())
		got := opResults(r.Stdout)
		assert.Equal(t, "-1 ENOSPC", got["private 8388608"], r.String())
		assert.Regexp(t, `^\d+$`, got["private 4096"], r.String())
		assert.Equal(t, "0", got["detach"], r.String())
	})

	t.Run("GOSHM_SPARSE=1 succeeds", func(t *testing.T) {
		r, _ := onTmpfs(t, "4m", "true", []string{"GOSHM_SPARSE=1"},
			"private", "8388608", "attach", "$", "detach")
		require.Equal(t, 0, r.Code, r.String())
		got := opResults(r.Stdout)
		assert.Regexp(t, `^\d+$`, got["private 8388608"], r.String())
		assert.Equal(t, "0", got["attach $"], r.String())
		assert.Empty(t, r.Stderr)
	})

	t.Run("a segment that fills the file system to the last block", func(t *testing.T) {
		// The first call creates the store, then takes all the space
		// left; the registry's own pages must already be reserved.
		r, _ := onTmpfs(t, "4m", "true", nil,
			"fill", "1", "fill", "0", "attach", "$", "write", "detach", "private", "4096", "info")
		require.Equal(t, 0, r.Code, "no SIGBUS (exit 135)\n%s", r)
		got := opResults(r.Stdout)
		assert.Regexp(t, `^\d+$`, got["fill 0"], r.String())
		assert.Equal(t, "0", got["detach"], r.String())
		assert.Equal(t, "-1 ENOSPC", got["private 4096"], r.String())
		assert.Equal(t, "0", got["IPC_INFO"], r.String())
	})

	// 1 MiB cannot hold the registry's reserved 2 MiB; sparse, it can,
	// and a 4 MiB segment too.
	t.Run("1 MiB: too small for the registry", func(t *testing.T) {
		r, store := onTmpfs(t, "1m", "true", nil, "private", "4096")
		require.Equal(t, 0, r.Code, r.String())
		assert.Equal(t, "-1 ENOSPC", opResults(r.Stdout)["private 4096"], r.String())
		assertOneDiagnostic(t, r, store)
		assert.Contains(t, r.Stderr, "free space")
	})

	t.Run("1 MiB with GOSHM_SPARSE=1", func(t *testing.T) {
		r, _ := onTmpfs(t, "1m", "true", []string{"GOSHM_SPARSE=1"},
			"private", "4194304", "attach", "$", "detach", "rm", "$")
		require.Equal(t, 0, r.Code, r.String())
		got := opResults(r.Stdout)
		assert.Regexp(t, `^\d+$`, got["private 4194304"], r.String())
		assert.Equal(t, "0", got["rm $"], r.String())
		assert.Empty(t, r.Stderr)
	})
}

// SHM_EXEC on a store mounted noexec: EACCES (docs/DIFFERENCES.md); the
// kernel's shm file system is never noexec, and mmap's own EPERM there
// would read as "below mmap_min_addr".
func TestShmExecOnNoexecStore(t *testing.T) {
	testenv.RequireRoot(t)
	r, _ := onTmpfs(t, "4m", `mount -o remount,noexec "$D"`, nil,
		"private", "4096", "attach-exec", "$", "attach", "$", "detach")
	require.Equal(t, 0, r.Code, r.String())
	got := opResults(r.Stdout)
	assert.Equal(t, "-1 EACCES", got["attach-exec $"], r.String())
	assert.Equal(t, "0", got["attach $"], r.String())
	assert.Equal(t, "0", got["detach"], r.String())
}

// assertStoreErrors checks the answers of conf_store_ops "private 4096
// find KEY stat 0" on a store that cannot be used: EPERM from shmget,
// EACCES from the others (docs/DIFFERENCES.md, Store errors).
func assertStoreErrors(t *testing.T, r testenv.Result) {
	t.Helper()
	got := opResults(r.Stdout)
	assert.Equal(t, "-1 EPERM", got["private 4096"], r.String())
	assert.Equal(t, "-1 EPERM", got["find "+damageKey], r.String())
	assert.Equal(t, "-1 EACCES", got["stat 0"], r.String())
}
