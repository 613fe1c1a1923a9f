package conformance

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// Offsets in a semaphore set's file and the semaphore registry
// (docs/FORMAT.md, "Semaphore sets"; capi/engine/sem.h).
const (
	semSetNsemsOff   = 12   // struct gs_semset.nsems
	semSetGenOff     = 32   // struct gs_semset.gen
	semSetBootIDOff  = 80   // struct gs_semset.boot_id
	semSetJvalidOff  = 160  // struct gs_semset.jvalid, then jn, then j[]: {off, val}
	semRegHiWaterOff = 36   // struct gs_sem_header.hi_water
	semRegSlotsOff   = 4096 // slots of struct gs_sem_slot, 32 bytes each
	semSlotNsemsOff  = 12   // gs_sem_slot.nsems
	semDamageKey     = "0x5e3a"
	semDamageNsems   = "3"
	semDamageSetGlob = "sem/set-*"
)

// semSetWithValue makes a store holding one semaphore set (key
// semDamageKey, 3 semaphores, semaphore 0 raised to 1) and returns the
// store, the set's id and the path of its file.
func semSetWithValue(t *testing.T) (store, id, setFile string) {
	t.Helper()
	store = newStore(t)
	r := storeOps(t, store, nil, "semcreate", semDamageKey, semDamageNsems, "semup", "$")
	require.Equal(t, 0, r.Code, r.String())
	got := opResults(r.Stdout)
	id = got["semcreate "+semDamageKey]
	require.NotContains(t, id, "-1", r.String())
	require.Equal(t, "0", got["semup $"], r.String())
	files, err := filepath.Glob(filepath.Join(store, semDamageSetGlob))
	require.NoError(t, err)
	require.Len(t, files, 1, "one set file")
	return store, id, files[0]
}

func writeAt(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

func u32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

// A damaged semaphore store gives the calls that reach the damage EIO and
// one line on stderr naming the store -- never a crash, never a write past
// the end of a set's mapping.  In particular, a set file whose header
// disagrees with the registry about the number of semaphores (every offset
// in the file follows from it) or about its generation is refused.
func TestDamagedSemStore(t *testing.T) {
	testenv.RequireRoot(t)
	cases := []struct {
		name   string
		damage func(t *testing.T, store, setFile string)
		works  bool // the damage is skipped, not refused: the calls succeed
	}{
		{"set header says more semaphores than the registry", func(t *testing.T, _, setFile string) {
			writeAt(t, setFile, semSetNsemsOff, u32(30000))
		}, false},
		{"set header says fewer semaphores than the registry", func(t *testing.T, _, setFile string) {
			writeAt(t, setFile, semSetNsemsOff, u32(1))
		}, false},
		{"set file of another generation", func(t *testing.T, _, setFile string) {
			writeAt(t, setFile, semSetGenOff, binary.LittleEndian.AppendUint64(nil, 77))
		}, false},
		{"garbage set header", func(t *testing.T, _, setFile string) {
			writeAt(t, setFile, 0, []byte("this is not a goshm semaphore set"))
		}, false},
		{"journal naming offsets past the end, replayed after a reboot", func(t *testing.T, _, setFile string) {
			// A set file of an earlier boot has its journal replayed at its
			// first mapping: entries outside the file -- one whose offset
			// wraps around 32 bits when 4 is added -- must be skipped.
			writeAt(t, setFile, semSetBootIDOff, make([]byte, 16))
			j := u32(1)                       // jvalid
			j = append(j, u32(3)...)          // jn
			j = append(j, u32(0xfffffffe)...) // wraps: off + 4 = 2
			j = append(j, u32(0x41414141)...)
			j = append(j, u32(0x7ffff000)...) // far past the end
			j = append(j, u32(0x41414141)...)
			j = append(j, u32(16384+1)...) // inside, but not aligned
			j = append(j, u32(0x41414141)...)
			writeAt(t, setFile, semSetJvalidOff, j)
		}, true},
		{"truncated set file", func(t *testing.T, _, setFile string) {
			require.NoError(t, os.Truncate(setFile, 4096))
		}, false},
		// The slot is live and its file gone: damage (EIO), as for a
		// segment's data file, not the store directory's EACCES.
		{"set file deleted", func(t *testing.T, _, setFile string) {
			require.NoError(t, os.Remove(setFile))
		}, false},
		{"registry slot with another number of semaphores", func(t *testing.T, store, _ string) {
			writeAt(t, filepath.Join(store, "sem", "registry"), semRegSlotsOff+semSlotNsemsOff, u32(7))
		}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store, id, setFile := semSetWithValue(t)
			c.damage(t, store, setFile)
			r := storeOps(t, store, nil, "semup", id, "semstat", id, "semval", id, "0")
			require.Equal(t, 0, r.Code, "no crash\n%s", r)
			got := opResults(r.Stdout)
			if c.works {
				assert.Equal(t, "0", got["semup "+id], r.String())
				assert.Equal(t, "2", got["semval "+id], "the values are intact\n%s", r)
				assert.Empty(t, r.Stderr)
				return
			}
			for _, op := range []string{"semup " + id, "semstat " + id, "semval " + id} {
				assert.Equal(t, "-1 EIO", got[op], "%s\n%s", op, r)
			}
			assertOneDiagnostic(t, r, store)

			// Its owner cannot be read, so only root may remove the
			// damaged set -- and can: its key and id are free after.
			o, argv := goshmOpts(t, asUser, store, testenv.Artifact(t, "tests/conf_store_ops"), "semrm", id)
			u := testenv.Run(t, o, argv...)
			require.Equal(t, 0, u.Code, u.String())
			assert.Equal(t, "-1 EIO", opResults(u.Stdout)["semrm "+id], u.String())
			r = storeOps(t, store, nil, "semrm", id, "semstat", id, "semcreate", semDamageKey, "1")
			require.Equal(t, 0, r.Code, r.String())
			got = opResults(r.Stdout)
			assert.Equal(t, "0", got["semrm "+id], r.String())
			assert.Equal(t, "-1 EINVAL", got["semstat "+id], r.String())
			assert.NotContains(t, got["semcreate "+semDamageKey], "-1", "the key is free\n%s", r)
		})
	}

	// A registry header whose bounds reach past its slots: every call
	// that takes the registry -- a lookup by key scans up to hi_water --
	// fails with EIO.
	t.Run("registry header with hi_water past the slots", func(t *testing.T) {
		store, id, _ := semSetWithValue(t)
		writeAt(t, filepath.Join(store, "sem", "registry"), semRegHiWaterOff, u32(0x7fffffff))
		r := storeOps(t, store, nil, "semcreate", "0x5e3b", "1", "semstat", id)
		require.Equal(t, 0, r.Code, "no crash\n%s", r)
		got := opResults(r.Stdout)
		assert.Equal(t, "-1 EIO", got["semcreate 0x5e3b"], r.String())
		assert.Equal(t, "-1 EIO", got["semstat "+id], r.String())
		assertOneDiagnostic(t, r, store)
	})

	// Undamaged, the same calls work: the cases above fail for their damage.
	store, id, _ := semSetWithValue(t)
	r := storeOps(t, store, nil, "semup", id, "semstat", id, "semval", id, "0")
	require.Equal(t, 0, r.Code, r.String())
	got := opResults(r.Stdout)
	assert.Equal(t, "0", got["semup "+id], r.String())
	assert.Equal(t, "0 nsems "+strings.TrimSpace(semDamageNsems), got["semstat "+id], r.String())
	assert.Equal(t, "2", got["semval "+id], r.String())
	assert.Empty(t, r.Stderr)
}
