package conformance

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

const damageKey = "0x1234"

// storeOps runs conf_store_ops OPS... under goshm as root in a fresh IPC
// namespace with store, and more environment.
func storeOps(t *testing.T, store string, env []string, ops ...string) testenv.Result {
	t.Helper()
	o, argv := goshmOpts(t, asRoot, store, append([]string{testenv.Artifact(t, "tests/conf_store_ops")}, ops...)...)
	o.Env = env
	return testenv.Run(t, o, argv...)
}

// opResults maps "op arg" to its result ("0", "-1 EIO").
func opResults(stdout string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if op, res, ok := strings.Cut(line, " = "); ok {
			m[op] = res
		}
	}
	return m
}

// segmentWithData makes a store holding one segment (key damageKey, with
// data written through an attach) and returns the store and its id.
func segmentWithData(t *testing.T) (store, id string) {
	t.Helper()
	store = newStore(t)
	r := storeOps(t, store, nil, "create", damageKey, "8192", "attach", "$", "write", "detach")
	require.Equal(t, 0, r.Code, r.String())
	require.Empty(t, r.Stderr)
	id = opResults(r.Stdout)["create "+damageKey]
	require.Regexp(t, `^\d+$`, id, r.String())
	return store, id
}

// dataFile is the one data file (seg-<gen>) of the store.
func dataFile(t *testing.T, store string) string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(store, "segments", "seg-*"))
	require.NoError(t, err)
	for _, m := range matches {
		if regexp.MustCompile(`/seg-\d+$`).MatchString(m) {
			return m
		}
	}
	t.Fatalf("no data file in %s: %v", store, matches)
	return ""
}

// assertOneDiagnostic: exactly one line on stderr, naming the store.
func assertOneDiagnostic(t *testing.T, r testenv.Result, store string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(r.Stderr, "\n"), "\n")
	assert.Len(t, lines, 1, "one diagnostic line, got:\n%s", r.Stderr)
	assert.Contains(t, r.Stderr, store, "the line names the store directory")
	assert.True(t, strings.HasPrefix(r.Stderr, "goshm: "), "the line says it is goshm's: %q", r.Stderr)
}

// A damaged store gives every call an error -- EIO for damage -- and one
// line on stderr naming the directory; never a crash.  GOSHM_QUIET=1
// silences the line.
func TestDamagedStore(t *testing.T) {
	testenv.RequireRoot(t)
	registryCalls := func(id string) []string {
		return []string{"find " + damageKey, "private 4096", "attach " + id, "stat " + id, "set " + id,
			"lock " + id, "IPC_INFO", "SHM_INFO", "shmstat 0", "rm " + id}
	}
	allOps := func(id string) []string {
		return []string{"find", damageKey, "private", "4096", "attach", id, "stat", id, "set", id,
			"lock", id, "info", "shmstat", "0", "rm", id}
	}
	cases := []struct {
		name   string
		damage func(t *testing.T, store string)
		ops    func(id string) []string
		eio    func(id string) []string // the operations that must fail with EIO
	}{
		{
			name: "garbage in the registry header",
			damage: func(t *testing.T, store string) {
				f, err := os.OpenFile(filepath.Join(store, "registry"), os.O_WRONLY, 0)
				require.NoError(t, err)
				_, err = f.WriteAt([]byte("this is not a goshm registry at all"), 0)
				require.NoError(t, err)
				require.NoError(t, f.Close())
			},
			ops: allOps, eio: registryCalls,
		},
		{
			name: "truncated registry",
			damage: func(t *testing.T, store string) {
				require.NoError(t, os.Truncate(filepath.Join(store, "registry"), 4096))
			},
			ops: allOps, eio: registryCalls,
		},
		{
			name: "empty registry",
			damage: func(t *testing.T, store string) {
				require.NoError(t, os.Truncate(filepath.Join(store, "registry"), 0))
			},
			ops: allOps, eio: registryCalls,
		},
		{
			name: "damaged slot state",
			damage: func(t *testing.T, store string) {
				// state[0] (docs/FORMAT.md: the state array starts at 4096)
				f, err := os.OpenFile(filepath.Join(store, "registry"), os.O_WRONLY, 0)
				require.NoError(t, err)
				_, err = f.WriteAt([]byte{0x77}, 4096)
				require.NoError(t, err)
				require.NoError(t, f.Close())
			},
			ops: allOps,
			eio: func(id string) []string {
				return []string{"find " + damageKey, "attach " + id, "stat " + id, "rm " + id}
			},
		},
		{
			name: "impossible size in a slot",
			damage: func(t *testing.T, store string) {
				// slot 0's shm_segsz: slots start at 24576, segsz is at
				// offset 40 of a slot (docs/FORMAT.md).
				f, err := os.OpenFile(filepath.Join(store, "registry"), os.O_WRONLY, 0)
				require.NoError(t, err)
				_, err = f.WriteAt([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 24576+40)
				require.NoError(t, err)
				require.NoError(t, f.Close())
			},
			ops: allOps,
			eio: func(id string) []string {
				return []string{"find " + damageKey, "attach " + id, "stat " + id, "rm " + id}
			},
		},
		{
			name: "data file truncated",
			damage: func(t *testing.T, store string) {
				require.NoError(t, os.Truncate(dataFile(t, store), 100))
			},
			ops: func(id string) []string { return []string{"find", damageKey, "stat", id, "attach", id} },
			eio: func(id string) []string { return []string{"attach " + id} },
		},
		{
			name: "data file deleted",
			damage: func(t *testing.T, store string) {
				require.NoError(t, os.Remove(dataFile(t, store)))
			},
			ops: func(id string) []string { return []string{"find", damageKey, "stat", id, "attach", id} },
			eio: func(id string) []string { return []string{"attach " + id} },
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, quiet := range []bool{false, true} {
				store, id := segmentWithData(t)
				c.damage(t, store)
				var env []string
				if quiet {
					env = []string{"GOSHM_QUIET=1"}
				}
				r := storeOps(t, store, env, c.ops(id)...)
				require.Equal(t, 0, r.Code, "the program must not crash\n%s", r)
				got := opResults(r.Stdout)
				for _, op := range c.eio(id) {
					assert.Equal(t, "-1 EIO", got[op], "%s\n%s", op, r)
				}
				if quiet {
					assert.Empty(t, r.Stderr, "GOSHM_QUIET=1")
				} else {
					assertOneDiagnostic(t, r, store)
				}
			}
		})
	}
}

// A deleted token file is made again by the next attach in its namespace:
// the segment stays attachable (goshm gc would find nothing to repair),
// and nothing is printed, since the call succeeds.  The new process of the
// namespace attaches while the first still holds its attach.
func TestDeletedTokenIsRemade(t *testing.T) {
	testenv.RequireRoot(t)
	store, id := segmentWithData(t)
	r := storeOps(t, store, nil, "attach", id, "unlink-tokens", "exec", "attach", id, "stat", id)
	require.Equal(t, 0, r.Code, r.String())
	assert.Equal(t, "1", opResults(r.Stdout)["unlink-tokens"], r.String())
	assert.NotContains(t, r.Stdout, "= -1", "every call succeeds\n%s", r)
	assert.Contains(t, r.Stdout, "stat "+id+" = 0 nattch 2\n", r.String())
	assert.Empty(t, r.Stderr)
	tokens, err := filepath.Glob(filepath.Join(store, "segments", "seg-*.ns*"))
	require.NoError(t, err)
	assert.Len(t, tokens, 1, "the token was made again")
}
