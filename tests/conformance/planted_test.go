package conformance

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// Files planted in a store by someone who can write it: symlinks and hard
// links out of the store, FIFOs, a file where a token file will go.  The
// store is a trust domain (docs/FORMAT.md, "Trust"), but a process that
// uses it -- root's above all -- must never be led to create, open, write
// or delete anything outside it.

// setSysctl writes a value under /proc/sys for the length of the test.
// The protected_* settings are the machine's, not a namespace's: the
// tests that change them do not run in parallel with each other.
func setSysctl(t *testing.T, name, value string) {
	t.Helper()
	path := "/proc/sys/" + strings.ReplaceAll(name, ".", "/")
	old, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, []byte(value+"\n"), 0o644), "sysctl %s=%s", name, value)
	t.Cleanup(func() {
		if err := os.WriteFile(path, old, 0o644); err != nil {
			t.Errorf("restoring %s: %v", name, err)
		}
	})
}

// outside is a directory of root's outside any store, every user may
// enter it, holding files that look like a store's.
func outside(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "goshm-outside-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	page := strings.Repeat("C", 4096)
	for name, content := range map[string]string{
		"seg-1":        page, // the size of a one-page segment's data file
		"seg-2":        page + page,
		"seg-1.ns0.2":  page,
		".tmp-3.12345": "a temporary file\n",
		"notes.txt":    "not goshm's\n",
	} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	return dir
}

// treeState is what a directory tree holds: for each path, its type,
// mode, owner, size and a hash of its contents.
func treeState(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		desc := fmt.Sprintf("%v uid=%d size=%d", info.Mode(), st.Uid, info.Size())
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			desc += " sha256=" + hex.EncodeToString(sum[:8])
		}
		rel, _ := filepath.Rel(dir, p)
		m[rel] = desc
		return nil
	})
	require.NoError(t, err)
	return m
}

// pick is the entries of m named by the keys of like.
func pick(m, like map[string]string) map[string]string {
	out := map[string]string{}
	for k := range like {
		out[k] = m[k]
	}
	return out
}

// asUserSh runs a shell script as uid 1000.
func asUserSh(t *testing.T, script string) {
	t.Helper()
	r := testenv.Run(t, testenv.Opts{UID: testenv.UnprivUID, GID: testenv.UnprivGID}, "sh", "-ec", script)
	require.Equal(t, 0, r.Code, "as uid 1000: %s\n%s", script, r)
}

// goshmCLI runs build/goshm as root with GOSHM_DIR=store.
func goshmCLI(t *testing.T, store string, args ...string) testenv.Result {
	t.Helper()
	return testenv.Run(t, testenv.Opts{Store: store}, append([]string{testenv.Artifact(t, "goshm")}, args...)...)
}

// userStore is a store directory that uid 1000 owns, in which uid 1000
// made a segment (key 0x1401, one page, data written); it returns the
// segment's id.
func userStore(t *testing.T) (store, id string) {
	t.Helper()
	store = testenv.NewStore(t)
	require.NoError(t, os.Mkdir(store, 0o755))
	require.NoError(t, os.Chown(store, testenv.UnprivUID, testenv.UnprivGID))
	r := runGoshm(t, asUser, store, testenv.Artifact(t, "tests/conf_store_ops"),
		"create", "0x1401", "4096", "attach", "$", "write", "detach")
	require.Equal(t, 0, r.Code, r.String())
	require.Empty(t, r.Stderr)
	id = opResults(r.Stdout)["create 0x1401"]
	require.Regexp(t, `^\d+$`, id, r.String())
	return store, id
}

// Issue 14, defect 2: root follows a symlink planted in a store out of it.
// uid 1000 replaces segments/ or the registry of a store with a symlink to
// a directory or a registry of root's.  Root's goshm gc deleted files
// there, and root's shmget made 0666 root-owned data files there (or wrote
// another store's registry).  Fixed: nothing outside the store is ever
// created, opened, written or deleted; root's shmget fails with EPERM and
// shmat and shmctl with EACCES, with one line on stderr naming the store;
// goshm gc fails; goshm doctor fails and says "symlink".
func TestPlantedSymlinkIsNotFollowed(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/conf_store_ops")

	// rootRegistry is a directory of root's holding another store, made
	// by root: the registry a planted symlink may point at.
	rootRegistry := func(t *testing.T) (dir string) {
		dir = outside(t)
		r := testenv.Run(t, testenv.Opts{Preload: true, NewIPC: true, Store: dir}, prog, "create", "0x1499", "4096")
		require.Equal(t, 0, r.Code, r.String())
		return dir
	}

	cases := []struct {
		name string
		// plant sets the trap and returns the store and the directory
		// outside that the symlink leads to; id is a segment the store
		// has, or "".
		plant func(t *testing.T) (store, target, id string)
	}{
		{
			name: "segments of a store uid 1000 owns",
			plant: func(t *testing.T) (string, string, string) {
				store, id := userStore(t)
				target := outside(t)
				asUserSh(t, fmt.Sprintf(`cd %q && mv segments segments.old && ln -s %q segments`, store, target))
				return store, target, id
			},
		},
		{
			name: "segments before first use of a root-made store",
			plant: func(t *testing.T) (string, string, string) {
				setSysctl(t, "fs.protected_symlinks", "0")
				store := newStore(t)
				target := outside(t)
				asUserSh(t, fmt.Sprintf(`ln -s %q %q/segments`, target, store))
				return store, target, ""
			},
		},
		{
			name: "registry of a store uid 1000 owns",
			plant: func(t *testing.T) (string, string, string) {
				store, id := userStore(t)
				target := rootRegistry(t)
				asUserSh(t, fmt.Sprintf(`cd %q && mv registry registry.old && ln -s %q/registry registry`, store, target))
				return store, target, id
			},
		},
		{
			name: "registry before first use of a root-made store",
			plant: func(t *testing.T) (string, string, string) {
				setSysctl(t, "fs.protected_symlinks", "0")
				store := newStore(t)
				target := rootRegistry(t)
				asUserSh(t, fmt.Sprintf(`ln -s %q/registry %q/registry`, target, store))
				return store, target, ""
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store, target, id := c.plant(t)
			before := treeState(t, target)

			ops := []string{"create", "0x1402", "4096", "private", "4096", "find", "0x1499"}
			if id != "" {
				ops = append(ops, "attach", id, "write", "stat", id, "rm", id)
			}
			r := storeOps(t, store, nil, ops...)
			require.Equal(t, 0, r.Code, r.String())
			want := map[string]string{"create 0x1402": "-1 EPERM", "private 4096": "-1 EPERM",
				"find 0x1499": "-1 EPERM"}
			if c.name == "segments before first use of a root-made store" {
				// No registry: a store that holds no segment yet, where
				// a lookup is ENOENT without touching the store (only
				// shmget with IPC_CREAT makes a store, and refuses).
				want["find 0x1499"] = "-1 ENOENT"
			}
			if id != "" {
				want["attach "+id], want["stat "+id], want["rm "+id] = "-1 EACCES", "-1 EACCES", "-1 EACCES"
			}
			assert.Equal(t, want, pick(opResults(r.Stdout), want), "shmget: EPERM, the others: EACCES\n%s", r)
			assertOneDiagnostic(t, r, store)

			gc := goshmCLI(t, store, "gc")
			if id != "" {
				assert.NotEqual(t, 0, gc.Code, "goshm gc on a store with a planted symlink\n%s", gc)
			}
			doc := goshmCLI(t, store, "doctor")
			assert.NotEqual(t, 0, doc.Code, "goshm doctor\n%s", doc)
			assert.Contains(t, doc.Stdout+doc.Stderr, "symlink", "goshm doctor names the problem")

			assert.Equal(t, before, treeState(t, target),
				"what the symlink leads to is unchanged: no file created, written or deleted there")
		})
	}
}

// Issue 14, defect 2 (hard links): with fs.protected_hardlinks=0, uid 1000
// replaces a data file with a hard link to a file of root's.  A data file
// with more than one link is damage: root's shmat fails with EIO (one
// line on stderr), and root's file is not written.
func TestPlantedHardLinkIsDamage(t *testing.T) {
	testenv.RequireRoot(t)
	setSysctl(t, "fs.protected_hardlinks", "0")
	store := newStore(t)
	r := runGoshm(t, asUser, store, testenv.Artifact(t, "tests/conf_store_ops"),
		"create", "0x1403", "4096", "attach", "$", "write", "detach")
	require.Equal(t, 0, r.Code, r.String())
	id := opResults(r.Stdout)["create 0x1403"]
	require.Regexp(t, `^\d+$`, id, r.String())
	target := outside(t)
	data := dataFile(t, store)
	asUserSh(t, fmt.Sprintf(`rm %q && ln %q/seg-1 %q`, data, target, data))
	before := treeState(t, target)

	r = storeOps(t, store, nil, "attach", id, "write", "detach", "stat", id)
	require.Equal(t, 0, r.Code, r.String())
	got := opResults(r.Stdout)
	assert.Equal(t, "-1 EIO", got["attach "+id], r.String())
	assert.Equal(t, "0 nattch 0", got["stat "+id], r.String())
	assertOneDiagnostic(t, r, store)
	assert.Equal(t, before, treeState(t, target), "root's file is unchanged")
}

// Issue 14, defect 5: a FIFO planted as a data file.  Opening a FIFO for
// reading waits for a writer, and the read-only attach waited there
// holding the store's lock: every call on the store hung.  A data file
// that is not a regular file is damage: shmat, read-only or not, fails
// with EIO at once (a timeout only detects a hang), with one line on
// stderr, and the other calls on the store go on working.
func TestPlantedFIFOIsDamage(t *testing.T) {
	testenv.RequireRoot(t)
	store, id := segmentWithData(t)
	r := storeOps(t, store, nil, "create", "0x1235", "4096")
	require.Equal(t, 0, r.Code, r.String())
	other := opResults(r.Stdout)["create 0x1235"]
	require.Regexp(t, `^\d+$`, other, r.String())
	data := dataFile(t, store)
	require.NoError(t, os.Remove(data))
	require.NoError(t, syscall.Mkfifo(data, 0o666))

	o, argv := goshmOpts(t, asRoot, store, testenv.Artifact(t, "tests/conf_store_ops"),
		"attach-ro", id, "attach", id, "stat", other, "attach", other, "detach", "stat", id)
	o.Timeout = 30 * time.Second
	r = testenv.Run(t, o, argv...)
	require.NoError(t, r.Err, "no hang\n%s", r)
	require.Equal(t, 0, r.Code, r.String())
	want := map[string]string{"attach-ro " + id: "-1 EIO", "attach " + id: "-1 EIO",
		"stat " + other: "0 nattch 0", "attach " + other: "0", "detach": "0", "stat " + id: "0 nattch 0"}
	assert.Equal(t, want, pick(opResults(r.Stdout), want), r.String())
	assertOneDiagnostic(t, r, store)
}

// Issue 14, defect 14 (token files created with O_TRUNC): a namespace's
// first attach of a segment makes its token file,
// segments/seg-<gen>.ns<k>.<tgen>, where k is the first free namespace
// slot (0 for a segment never attached) and tgen the registry header's
// next_gen.  A file planted under that name was truncated and taken for
// the token.  Whatever the attach then does, the planted file is not
// truncated or written (it may be gone).
func TestPlantedTokenFileIsNotTruncated(t *testing.T) {
	testenv.RequireRoot(t)
	store := newStore(t)
	r := storeOps(t, store, nil, "create", "0x1410", "4096")
	require.Equal(t, 0, r.Code, r.String())
	id := opResults(r.Stdout)["create 0x1410"]
	require.Regexp(t, `^\d+$`, id, r.String())

	reg, err := os.ReadFile(filepath.Join(store, "registry"))
	require.NoError(t, err)
	nextGen := binary.LittleEndian.Uint64(reg[hdrNextGen:])
	require.NotZero(t, uint32(nextGen), "the next token generation is not 0")
	token := fmt.Sprintf("%s.ns0.%d", dataFile(t, store), uint32(nextGen))
	const planted = "planted, not a token\n"
	require.NoError(t, os.WriteFile(token, []byte(planted), 0o644))

	r = storeOps(t, store, nil, "attach", id, "detach")
	require.Equal(t, 0, r.Code, r.String())
	t.Logf("the attach beside a planted token file: %s", strings.TrimSpace(r.Stdout))
	got, err := os.ReadFile(token)
	if !os.IsNotExist(err) {
		require.NoError(t, err)
		short := func(b []byte) string { return fmt.Sprintf("%d bytes: %.40q", len(b), b) }
		assert.Equal(t, short([]byte(planted)), short(got), "the planted file was truncated or written")
	}
}
