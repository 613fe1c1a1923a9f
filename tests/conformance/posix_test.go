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

// POSIX shared memory (GOSHM_POSIX): shm_open and shm_unlink, served from
// the store's posix/ directory, must say what glibc and the kernel say on
// /dev/shm.  Every run gets a mount namespace of its own with a fresh
// tmpfs on /dev/shm, so the native run starts from an empty /dev/shm and
// a goshm run shows that nothing lands there.

// inFreshShm runs argv with a fresh tmpfs on /dev/shm; the library (when
// lib is not "") is preloaded into argv only, not into unshare or mount.
// After argv, the script lists what /dev/shm holds.
func inFreshShm(t *testing.T, lib string, env []string, argv ...string) testenv.Result {
	t.Helper()
	script := `mount -t tmpfs tmpfs /dev/shm || exit 99
if [ -n "$0" ]; then env LD_PRELOAD="$0" "$@"; else "$@"; fi
rc=$?
echo "/dev/shm: $(ls -A /dev/shm | tr '\n' ' ')"
exit $rc`
	full := append([]string{"unshare", "--mount", "sh", "-c", script, lib}, argv...)
	return testenv.Run(t, testenv.Opts{Env: env}, full...)
}

// The probe's steps -- names, flags, modes, umask, fstat, mmap, fchmod,
// fchown, fork, another user, a planted symlink and directory -- give the
// same lines natively and under goshm: served from the store
// (GOSHM_POSIX=1), and passed on to /dev/shm (GOSHM_POSIX unset, or a
// prefix list that names none of the probe's objects).
func TestPOSIXMatchesDevShm(t *testing.T) {
	testenv.RequireRoot(t)
	probe := testenv.Artifact(t, "tests/posix_probe")
	native := inFreshShm(t, "", nil, probe, "/dev/shm")
	require.Equal(t, 0, native.Code, native.String())
	require.Contains(t, native.Stdout, "/dev/shm: \n", "the probe leaves /dev/shm empty")
	require.Greater(t, strings.Count(native.Stdout, "\n"), 200)
	require.Contains(t, native.Stdout, " descriptors left = 0\n", "the probe closes what it opens")

	store := newStore(t)
	served := inFreshShm(t, testenv.Lib(t), []string{"GOSHM_POSIX=1", "GOSHM_DIR=" + store},
		probe, filepath.Join(store, "posix"))
	require.Equal(t, 0, served.Code, served.String())
	assert.Empty(t, served.Stderr)
	assert.Equal(t, native.Stdout, served.Stdout, "GOSHM_POSIX=1 against /dev/shm")
	// Equal output includes "descriptors left = 0": goshm keeps none.

	fi, err := os.Stat(filepath.Join(store, "posix"))
	require.NoError(t, err, "the store has posix/")
	assert.Equal(t, os.ModeDir|os.ModeSticky|0o777, fi.Mode(), "posix/ is 1777 like /dev/shm")
	left, err := os.ReadDir(filepath.Join(store, "posix"))
	require.NoError(t, err)
	assert.Empty(t, left, "the probe removed every object it made")

	for _, env := range [][]string{nil, {"GOSHM_POSIX=0"}, {"GOSHM_POSIX=/zz,qq_"}} {
		other := newStore(t)
		r := inFreshShm(t, testenv.Lib(t), append(env, "GOSHM_DIR="+other), probe, "/dev/shm")
		require.Equal(t, 0, r.Code, r.String())
		assert.Empty(t, r.Stderr)
		assert.Equal(t, native.Stdout, r.Stdout, "%v: glibc's shm_open, on /dev/shm", env)
		_, err := os.Stat(filepath.Join(other, "posix"))
		assert.True(t, os.IsNotExist(err), "%v: nothing in the store", env)
	}
}

// Objects land in the store, not in /dev/shm, and a prefix list serves
// only the names it covers.
func TestPOSIXPrefixes(t *testing.T) {
	testenv.RequireRoot(t)
	probe := testenv.Artifact(t, "tests/posix_probe")
	store := newStore(t)
	env := []string{"GOSHM_POSIX=/kept_,other", "GOSHM_DIR=" + store}
	r := inFreshShm(t, testenv.Lib(t), env, "sh", "-c",
		probe+" put /kept_a one && "+probe+" put //other two && "+probe+" put /scratch three")
	require.Equal(t, 0, r.Code, r.String())
	assert.Contains(t, r.Stdout, "/dev/shm: scratch \n", "only the uncovered name is in /dev/shm")
	names := []string{}
	ents, err := os.ReadDir(filepath.Join(store, "posix"))
	require.NoError(t, err)
	for _, e := range ents {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"kept_a", "other"}, names)
	data, err := os.ReadFile(filepath.Join(store, "posix", "kept_a"))
	require.NoError(t, err)
	assert.Equal(t, "one", strings.TrimRight(string(data), "\x00"))
	fi, err := os.Stat(filepath.Join(store, "posix", "kept_a"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode(), "the object is a regular file, mode as asked")
}

// No silent fallback: a GOSHM_POSIX that cannot be read, or a store that
// cannot be used, fails the call with one line on stderr; nothing goes to
// /dev/shm instead.
func TestPOSIXRefusesWhatItCannotUse(t *testing.T) {
	testenv.RequireRoot(t)
	probe := testenv.Artifact(t, "tests/posix_probe")

	r := inFreshShm(t, testenv.Lib(t), []string{"GOSHM_POSIX=/a,,/b", "GOSHM_DIR=" + newStore(t)},
		probe, "put", "/a", "x")
	assert.Equal(t, 1, r.Code, r.String())
	assert.Contains(t, r.Stdout, "put /a: EINVAL")
	assert.Contains(t, r.Stdout, "/dev/shm: \n")
	assert.Equal(t, 1, strings.Count(r.Stderr, "\n"), r.Stderr)
	assert.Contains(t, r.Stderr, "goshm: GOSHM_POSIX: cannot be read")

	// The store is a regular file.
	file := filepath.Join(t.TempDir(), "not-a-dir")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	r = inFreshShm(t, testenv.Lib(t), []string{"GOSHM_POSIX=1", "GOSHM_DIR=" + file},
		"sh", "-c", probe+" put /x y; "+probe+" get /x")
	assert.Contains(t, r.Stdout, "put /x: EACCES")
	assert.Contains(t, r.Stdout, "get /x: EACCES")
	assert.Contains(t, r.Stdout, "/dev/shm: \n")
	assert.Equal(t, 2, strings.Count(r.Stderr, "\n"), "one line per process: %s", r.Stderr)
	assert.Contains(t, r.Stderr, "goshm: store "+file)

	// posix/ is a symlink to a directory someone planted.
	store := newStore(t)
	target := t.TempDir()
	require.NoError(t, os.Symlink(target, filepath.Join(store, "posix")))
	r = inFreshShm(t, testenv.Lib(t), []string{"GOSHM_POSIX=1", "GOSHM_DIR=" + store},
		probe, "put", "/x", "y")
	assert.Equal(t, 1, r.Code, r.String())
	assert.Contains(t, r.Stdout, "put /x: EACCES")
	assert.Contains(t, r.Stderr, "symbolic link")
	ents, err := os.ReadDir(target)
	require.NoError(t, err)
	assert.Empty(t, ents, "nothing was made through the symlink")

	// A hard link to a file outside the store (the store may share
	// its file system with it, /dev/shm never does): never opened,
	// never truncated.
	store = newStore(t)
	r = inFreshShm(t, testenv.Lib(t), []string{"GOSHM_POSIX=1", "GOSHM_DIR=" + store},
		probe, "put", "/x", "y")
	require.Equal(t, 0, r.Code, r.String())
	outside := filepath.Join(filepath.Dir(store), "precious")
	require.NoError(t, os.WriteFile(outside, []byte("keep me"), 0o600))
	require.NoError(t, os.Link(outside, filepath.Join(store, "posix", "hl")))
	r = inFreshShm(t, testenv.Lib(t), []string{"GOSHM_POSIX=1", "GOSHM_DIR=" + store},
		"sh", "-c", probe+" put /hl overwritten; "+probe+" get /hl")
	assert.Contains(t, r.Stdout, "put /hl: EIO")
	assert.Contains(t, r.Stdout, "get /hl: EIO")
	assert.Contains(t, r.Stderr, "hard link")
	data, err := os.ReadFile(outside)
	require.NoError(t, err)
	assert.Equal(t, "keep me", string(data))
}

// "." and ".." are refused read-only too: /dev/shm would hand out a
// descriptor of the directory (docs/DIFFERENCES.md).
func TestPOSIXDotNamesKnownDifference(t *testing.T) {
	testenv.RequireRoot(t)
	probe := testenv.Artifact(t, "tests/posix_probe")
	store := newStore(t)
	r := inFreshShm(t, testenv.Lib(t), []string{"GOSHM_POSIX=1", "GOSHM_DIR=" + store},
		"sh", "-c", probe+" put /x y; "+probe+" get /.; "+probe+" get ..")
	assert.Contains(t, r.Stdout, "get /.: EINVAL")
	assert.Contains(t, r.Stdout, "get ..: EINVAL")
	n := inFreshShm(t, "", nil, probe, "get", "/.")
	assert.Contains(t, n.Stdout, "get /.: size=", "natively, the directory opens")
}

// Programs built against musl get musl's shm_open from build/musl's
// library: its name rules and errno (EINVAL for "." and "..", no
// EISDIR or EPERM mapping) and its O_NONBLOCK, served from the store as
// on /dev/shm.
func TestPOSIXMatchesDevShmMusl(t *testing.T) {
	testenv.RequireRoot(t)
	lib := testenv.Artifact(t, "musl/libgoshm.so") // make builds it (musl-tools)
	probe := filepath.Join(t.TempDir(), "posix_probe_musl")
	cc := testenv.Run(t, testenv.Opts{}, "musl-gcc", "-O2", "-o", probe,
		filepath.Join(testenv.Root(t), "tests/cprogs/posix_probe.c"))
	require.Equal(t, 0, cc.Code, cc.String())

	native := inFreshShm(t, "", nil, probe, "/dev/shm")
	require.Equal(t, 0, native.Code, native.String())
	require.Contains(t, native.Stdout, `shm_unlink("/.") = -1 EINVAL`, "musl's rules, not glibc's")
	require.Contains(t, native.Stdout, " descriptors left = 0\n")

	store := newStore(t)
	served := inFreshShm(t, lib, []string{"GOSHM_POSIX=1", "GOSHM_DIR=" + store},
		probe, filepath.Join(store, "posix"))
	require.Equal(t, 0, served.Code, served.String())
	assert.Empty(t, served.Stderr)
	assert.Equal(t, native.Stdout, served.Stdout, "GOSHM_POSIX=1 against /dev/shm, musl")

	passed := inFreshShm(t, lib, []string{"GOSHM_DIR=" + newStore(t)}, probe, "/dev/shm")
	require.Equal(t, 0, passed.Code, passed.String())
	assert.Equal(t, native.Stdout, passed.Stdout, "musl's shm_open, on /dev/shm")
}
