package conformance

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// Byte offsets of fields of the registry's header, struct gs_header in
// capi/engine/engine.h (docs/FORMAT.md, "Header"): magic[8], version,
// header_size, mni, slot_size, ns_slots, page_size (u32 each), store_id,
// created (u64, i64), seq, last_idx, idr_next, reserved0 (32 bits each),
// next_gen (u64).
const (
	hdrPageSize = 28 // u32
	hdrIdrNext  = 56 // u32
	hdrNextGen  = 64 // u64
)

// patchRegistry writes b at off in the store's registry.
func patchRegistry(t *testing.T, store string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(store, "registry"), os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(b, off)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// fileSummary says what a file holds in a few words: its size, first
// byte and a hash.
func fileSummary(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	first := -1
	if len(b) > 0 {
		first = int(b[0])
	}
	return fmt.Sprintf("%d bytes, first byte %d, sha256 %x", len(b), first, sha256.Sum256(b))
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// Issue 14, defect 6: impossible values in the registry's header.  With
// next_gen set back to 1 while the segment of generation 1 exists, a new
// segment was given generation 1 too, and its creation replaced the
// existing segment's data file: two segments, one file.  The new shmget
// must fail with EIO (one line on stderr) and the existing segment's
// bytes must stay.  An idr_next above 4096 (the number of slots: 4096 is
// where the cyclic allocator stands after giving out the last index),
// or a page_size that is not this machine's, is damage too: every call
// fails with EIO, as for a header of another version.
func TestImpossibleRegistryHeader(t *testing.T) {
	testenv.RequireRoot(t)
	page := uint32(os.Getpagesize())
	every := func(id string) []string {
		return []string{"create 0x5678", "find " + damageKey, "stat " + id, "attach " + id}
	}
	cases := []struct {
		name  string
		off   int64
		value []byte
		eio   func(id string) []string // operations that must give EIO
	}{
		{"next_gen back to 1", hdrNextGen, le64(1),
			func(string) []string { return []string{"create 0x5678"} }},
		{"idr_next 4097", hdrIdrNext, le32(4097), every},
		{"idr_next 70000", hdrIdrNext, le32(70000), every},
		{"page_size of another machine", hdrPageSize, le32(page * 16), every},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			store, id := segmentWithData(t)
			data := dataFile(t, store)
			before := fileSummary(t, data)
			require.Contains(t, before, "first byte 1", "segmentWithData wrote its first byte")
			patchRegistry(t, store, c.off, c.value)

			r := storeOps(t, store, nil, "create", "0x5678", "4096", "find", damageKey, "stat", id, "attach", id)
			require.Equal(t, 0, r.Code, "no crash\n%s", r)
			got := opResults(r.Stdout)
			want := map[string]string{}
			for _, op := range c.eio(id) {
				want[op] = "-1 EIO"
			}
			assert.Equal(t, want, pick(got, want), r.String())
			assertOneDiagnostic(t, r, store)
			assert.Equal(t, before, fileSummary(t, data), "the existing segment's bytes are unchanged")
		})
	}
}
