package conformance

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Offsets of docs/FORMAT.md.
const (
	regSize       = 24576 + 4096*512
	regVersionOff = 8
	regWseqOff    = 80
	regHiWaterOff = 84
	regDestOff    = 88
	regStatesOff  = 4096
	regKeysOff    = 8192
	regSlotsOff   = 24576
)

// writeFormat1Store writes, byte by byte, the store goshm 0.1 (format 1)
// left: key 0x1234 of 8192 bytes with data, id 0 (generation 1), and a
// removed segment at index 1 (generation 2) that nobody attaches any more.
func writeFormat1Store(t *testing.T, store string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Join(store, "segments"), 0o777))
	reg := make([]byte, regSize)
	le := binary.LittleEndian
	copy(reg, "GOSHMREG")
	le.PutUint32(reg[8:], 1)     // version
	le.PutUint32(reg[12:], 4096) // header_size
	le.PutUint32(reg[16:], 4096) // mni
	le.PutUint32(reg[20:], 512)  // slot_size
	le.PutUint32(reg[24:], 8)    // ns_slots
	le.PutUint32(reg[28:], uint32(os.Getpagesize()))
	le.PutUint64(reg[32:], 0x1234567890abcdef) // store_id
	le.PutUint64(reg[40:], 1700000000)         // created
	le.PutUint32(reg[48:], 0)                  // seq
	le.PutUint32(reg[52:], 1)                  // last_idx
	le.PutUint32(reg[56:], 2)                  // idr_next
	le.PutUint64(reg[64:], 3)                  // next_gen
	slot := func(idx int, key int32, mode uint32, gen uint64) {
		s := reg[regSlotsOff+idx*512:]
		le.PutUint32(s[4:], mode)
		le.PutUint32(s[8:], uint32(key))
		le.PutUint32(s[28:], 1) // cpid
		le.PutUint64(s[40:], 8192)
		le.PutUint64(s[64:], 1700000000) // ctime
		le.PutUint64(s[88:], gen)
		for k := 0; k < 8; k++ {
			le.PutUint32(s[128+k*40+24:], 0xffffffff) // native_id -1
		}
		reg[regStatesOff+idx] = 1
		le.PutUint32(reg[regKeysOff+idx*4:], uint32(key))
	}
	slot(0, 0x1234, 0o666, 1)
	slot(1, 0, 0o600|0o1000, 2) // SHM_DEST, key gone
	require.NoError(t, os.WriteFile(filepath.Join(store, "registry"), reg, 0o666))
	data := make([]byte, 8192)
	copy(data, "kept by goshm 0.1")
	require.NoError(t, os.WriteFile(filepath.Join(store, "segments", "seg-1"), data, 0o666))
	require.NoError(t, os.WriteFile(filepath.Join(store, "segments", "seg-2"), make([]byte, 8192), 0o666))
}

// A store written by goshm 0.1 is upgraded in place by the first call that
// takes the lock: its segment keeps key, id and bytes, the removed one is
// reaped at the next creation, and the header now says format 3 (through 2).
func TestFormat1StoreIsUpgraded(t *testing.T) {
	store := newStore(t)
	writeFormat1Store(t, store)
	r := storeOps(t, store, nil, "find", "0x1234", "stat", "0", "attach", "$", "read", "detach",
		"private", "4096", "info")
	require.Equal(t, 0, r.Code, r.String())
	got := opResults(r.Stdout)
	assert.Equal(t, "0", got["find 0x1234"], r.String())
	assert.Equal(t, "0 nattch 0", strings.TrimPrefix(got["stat 0"], ""), r.String())
	assert.Equal(t, "kept by goshm 0.1", got["read"], r.String())
	assert.Empty(t, r.Stderr)

	reg, err := os.ReadFile(filepath.Join(store, "registry"))
	require.NoError(t, err)
	le := binary.LittleEndian
	assert.EqualValues(t, 3, le.Uint32(reg[regVersionOff:]), "format version")
	assert.Zero(t, le.Uint32(reg[regWseqOff:])&1, "no write section left open")
	assert.EqualValues(t, 0, le.Uint32(reg[regDestOff:]), "the removed segment was reaped")
	assert.GreaterOrEqual(t, le.Uint32(reg[regHiWaterOff:]), uint32(2), "hi_water covers the old slots")
	// The removed segment's file is gone: two live segments, two data files.
	assert.Len(t, dataFiles(t, store), 2, "the kept segment's and the private one's data files")
	assert.FileExists(t, filepath.Join(store, "segments", "seg-1"))
}

// Offsets of format 3's namespace counts (docs/FORMAT.md).
const (
	slotNsOff          = 128 // ns[8], 40 bytes each
	nsPublishedV2Off   = 28  // format 2's published count in a namespace slot
	nsTokenGenOff      = 32
	slotPubOff         = 448 // format 3: pub[8], u64 each
	foreignPublishedV2 = 2
)

// writeFormat2Store writes the store a format 2 engine leaves: key 0x1234
// of 8192 bytes with data (id 0, generation 1), attached twice in another
// IPC namespace, which published its count (2) in its namespace slot, the
// format 2 place; that namespace's token file is made too.
func writeFormat2Store(t *testing.T, store string) (token string) {
	t.Helper()
	writeFormat1Store(t, store)
	regPath := filepath.Join(store, "registry")
	reg, err := os.ReadFile(regPath)
	require.NoError(t, err)
	le := binary.LittleEndian
	le.PutUint32(reg[regVersionOff:], 2)
	le.PutUint32(reg[regHiWaterOff:], 2)
	le.PutUint32(reg[regDestOff:], 1)
	ns := reg[regSlotsOff+slotNsOff:]
	le.PutUint64(ns[0:], 1)           // ns_dev of no namespace here
	le.PutUint64(ns[8:], 2)           // ns_ino
	le.PutUint64(ns[16:], 1700000000) // native_ctime
	le.PutUint32(ns[24:], 12345)      // native_id, in that namespace
	le.PutUint32(ns[nsPublishedV2Off:], foreignPublishedV2)
	le.PutUint32(ns[nsTokenGenOff:], 1) // token seg-1.ns0.1
	le.PutUint32(ns[36:], 1)            // creator
	require.NoError(t, os.WriteFile(regPath, reg, 0o666))
	token = filepath.Join(store, "segments", "seg-1.ns0.1")
	require.NoError(t, os.WriteFile(token, make([]byte, os.Getpagesize()), 0o666))
	return token
}

// A store written by a format 2 engine is upgraded to format 3 by the first
// call that takes the lock: another namespace's published count moves to
// the slot's pub word and keeps counting in IPC_STAT while that namespace
// is alive (its token held open for writing), and counts nothing once it
// is gone.
func TestFormat2StoreIsUpgraded(t *testing.T) {
	store := newStore(t)
	token := writeFormat2Store(t, store)
	held, err := os.OpenFile(token, os.O_RDWR, 0)
	require.NoError(t, err)
	defer held.Close()

	r := storeOps(t, store, nil, "stat", "0", "attach", "0", "read", "detach", "stat", "0")
	require.Equal(t, 0, r.Code, r.String())
	got := opResults(r.Stdout)
	assert.Equal(t, "0 nattch 2", got["stat 0"], "the other namespace's two attaches\n%s", r)
	assert.Equal(t, "kept by goshm 0.1", got["read"], r.String())
	assert.Empty(t, r.Stderr)

	reg, err := os.ReadFile(filepath.Join(store, "registry"))
	require.NoError(t, err)
	le := binary.LittleEndian
	slot := reg[regSlotsOff:]
	assert.EqualValues(t, 3, le.Uint32(reg[regVersionOff:]), "format version")
	assert.Zero(t, le.Uint32(reg[regWseqOff:])&1, "no write section left open")
	assert.EqualValues(t, foreignPublishedV2, uint32(le.Uint64(slot[slotPubOff:])),
		"the other namespace's count, in its pub word")
	assert.Zero(t, le.Uint32(slot[slotNsOff+nsPublishedV2Off:]), "format 2's field is cleared")

	require.NoError(t, held.Close())
	r = storeOps(t, store, nil, "stat", "0")
	require.Equal(t, 0, r.Code, r.String())
	assert.Equal(t, "0 nattch 0", opResults(r.Stdout)["stat 0"], "that namespace is gone\n%s", r)
}

// A store of a newer format than this engine knows is refused with the
// store's error and one line, never read or changed.
func TestNewerFormatIsRefused(t *testing.T) {
	store, id := segmentWithData(t)
	regPath := filepath.Join(store, "registry")
	f, err := os.OpenFile(regPath, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte{4, 0, 0, 0}, regVersionOff)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	before, err := os.ReadFile(regPath)
	require.NoError(t, err)

	r := storeOps(t, store, nil, "find", damageKey, "stat", id, "attach", id, "private", "4096")
	require.Equal(t, 0, r.Code, r.String())
	got := opResults(r.Stdout)
	for _, op := range []string{"find " + damageKey, "stat " + id, "attach " + id, "private 4096"} {
		assert.Equal(t, "-1 EIO", got[op], "%s\n%s", op, r)
	}
	assertOneDiagnostic(t, r, store)
	assert.Contains(t, r.Stderr, "not a goshm registry of this version")
	after, err := os.ReadFile(regPath)
	require.NoError(t, err)
	assert.Equal(t, before, after, "the registry is left as it was")
}
