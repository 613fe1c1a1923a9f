package conformance

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Offsets of docs/FORMAT.md's header.
const (
	regBootIDOff        = 1144
	regRepairsOff       = 1160
	regRepairedSlotsOff = 1164
	regRepairedFilesOff = 1176
)

// The first use of a store after the machine rebooted repairs what a power
// cut can leave -- a live slot whose data file never reached the disk,
// stray files, namespaces of the last boot -- instead of reporting damage:
// the store opens, what is whole is kept with its bytes, what is not is
// cleanly gone, and nothing is printed.
func TestRepairAfterReboot(t *testing.T) {
	store := newStore(t)
	// Three segments (in order of generation), data in the first, the third
	// left attached by a process of a namespace that then ends.
	r := storeOps(t, store, nil, "create", "0x2001", "8192", "attach", "$", "write",
		"create", "0x2002", "4096", "create", "0x2003", "4096", "attach", "$")
	require.Equal(t, 0, r.Code, r.String())
	require.Empty(t, r.Stderr)
	tokens, err := filepath.Glob(filepath.Join(store, "segments", "seg-*.ns*"))
	require.NoError(t, err)
	require.Len(t, tokens, 2, "the first and third segments' tokens")

	// What a power cut can leave: a data file that never reached the
	// disk, a file of a creation cut short, the last boot's boot_id.
	data := dataFiles(t, store)
	require.Len(t, data, 3)
	require.NoError(t, os.Remove(data[1]), "the second segment's data file")
	require.NoError(t, os.WriteFile(filepath.Join(store, "segments", "seg-999"), nil, 0o666))
	regPath := filepath.Join(store, "registry")
	f, err := os.OpenFile(regPath, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("an earlier boot!"), regBootIDOff)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	r = storeOps(t, store, nil, "find", "0x2001", "attach", "$", "read", "stat", "$", "detach",
		"find", "0x2002", "find", "0x2003", "stat", "$", "create", "0x2002", "4096")
	require.Equal(t, 0, r.Code, r.String())
	assert.Empty(t, r.Stderr, "a repair is not damage: nothing to say")
	got := opResults(r.Stdout)
	assert.Equal(t, "0", got["find 0x2001"], r.String())
	assert.Contains(t, r.Stdout, "read = \x01", "the first segment's bytes survive\n%s", r)
	assert.Equal(t, "-1 ENOENT", got["find 0x2002"], "a segment whose file is lost is cleanly gone\n%s", r)
	assert.Regexp(t, `^\d+$`, got["find 0x2003"], r.String())
	assert.Contains(t, r.Stdout, "= 0 nattch 0\n", "nothing is attached after a reboot\n%s", r)
	assert.Regexp(t, `^\d+$`, got["create 0x2002"], "the lost segment's key is free\n%s", r)

	reg, err := os.ReadFile(regPath)
	require.NoError(t, err)
	le := binary.LittleEndian
	assert.EqualValues(t, 1, le.Uint32(reg[regRepairsOff:]), "one repair")
	assert.EqualValues(t, 1, le.Uint32(reg[regRepairedSlotsOff:]), "the slot without its file")
	assert.GreaterOrEqual(t, le.Uint32(reg[regRepairedFilesOff:]), uint32(3), "seg-999 and two tokens")
	bootID, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	require.NoError(t, err)
	assert.NotEqual(t, "an earlier boot!", string(reg[regBootIDOff:regBootIDOff+16]))
	assert.Len(t, bootID, 37)
	assert.NoFileExists(t, filepath.Join(store, "segments", "seg-999"))
	doc := goshmCLI(t, store, "doctor")
	assert.Regexp(t, `registry .*format 3; repaired after a reboot 1 time\(s\), last at \S+: `+
		`1 segment\(s\) that did not survive freed, [3-9] file\(s\) removed`, doc.Stdout)
	for _, tok := range tokens {
		assert.NoFileExists(t, tok, "the last boot's token files")
	}
}

// A live slot naming the last generation there is (its data file planted
// under that name) is not a segment an engine made: the repair after a
// reboot frees it, where taking it would have made the next generation
// wrap to 0, which every later creation refused.
func TestRepairAfterRebootFreesTheLastGeneration(t *testing.T) {
	store := newStore(t)
	r := storeOps(t, store, nil, "create", "0x2101", "4096")
	require.Equal(t, 0, r.Code, r.String())
	data := dataFiles(t, store)
	require.Len(t, data, 1)
	require.NoError(t, os.Rename(data[0], filepath.Join(store, "segments", "seg-18446744073709551615")))
	regPath := filepath.Join(store, "registry")
	f, err := os.OpenFile(regPath, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt(binary.LittleEndian.AppendUint64(nil, ^uint64(0)), regSlotsOff+88) // slot 0's gen
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("an earlier boot!"), regBootIDOff)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	r = storeOps(t, store, nil, "find", "0x2101", "create", "0x2102", "4096", "create", "0x2103", "4096")
	require.Equal(t, 0, r.Code, r.String())
	assert.Empty(t, r.Stderr, r.String())
	got := opResults(r.Stdout)
	assert.Equal(t, "-1 ENOENT", got["find 0x2101"], r.String())
	assert.Regexp(t, `^\d+$`, got["create 0x2102"], r.String())
	assert.Regexp(t, `^\d+$`, got["create 0x2103"], r.String())
}

// dataFiles are the store's data files, seg-<gen>, in order of generation.
func dataFiles(t *testing.T, store string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(store, "segments"))
	require.NoError(t, err)
	type file struct {
		gen  int
		path string
	}
	var files []file
	for _, e := range entries {
		var gen int
		var rest string
		if n, _ := fmt.Sscanf(e.Name(), "seg-%d%s", &gen, &rest); n == 1 {
			files = append(files, file{gen, filepath.Join(store, "segments", e.Name())})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].gen < files[j].gen })
	out := make([]string, len(files))
	for i, f := range files {
		out[i] = f.path
	}
	return out
}
