package conformance

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// Offsets of the registry header's list of pooled files, which earlier
// engines kept (docs/FORMAT.md): nfree, then free_gens[16].
const (
	regNfreeOff    = 1180
	regFreeGensOff = 1184
)

// A destroyed segment's data file is removed at once, and the next
// segment gets a file of its own, zeroed, whatever its size.
func TestDestroyedSegmentLeavesNoFile(t *testing.T) {
	for _, size := range []string{"8192", "4096", "20000"} {
		t.Run(size, func(t *testing.T) {
			store := newStore(t)
			r := storeOps(t, store, nil, "private", "8192", "attach", "$", "write", "detach", "rm", "$")
			require.Equal(t, 0, r.Code, r.String())
			assert.Empty(t, allDataFiles(t, store), "the destroyed segment's file is gone")

			r = storeOps(t, store, nil, "private", size, "attach", "$", "read", "stat", "$")
			require.Equal(t, 0, r.Code, r.String())
			assert.Contains(t, r.Stdout, "read = \n", "a new segment starts zeroed\n%s", r)
			data := dataFiles(t, store)
			require.Len(t, data, 1)
			info, err := os.Stat(data[0])
			require.NoError(t, err)
			page := int64(os.Getpagesize())
			want := map[string]int64{"8192": 8192, "4096": 4096, "20000": (20000 + page - 1) / page * page}[size]
			assert.Equal(t, want, info.Size(), "the new segment's size")
			assert.Empty(t, r.Stderr)
		})
	}
}

// A process that maps a segment's data file itself keeps the bytes it
// maps after the segment is destroyed, and the next segment made is not
// that file: it starts zeroed, and the holder's bytes stay.
func TestDestroyedFileStillMappedIsUntouched(t *testing.T) {
	store := newStore(t)
	r := storeOps(t, store, nil, "private", "8192", "attach", "$", "write", "detach")
	require.Equal(t, 0, r.Code, r.String())
	id := values(r.Stdout)[0]
	data := dataFiles(t, store)
	require.Len(t, data, 1)
	path := data[0]

	// A process that maps the file (read-only, shared) and holds it.
	holder := exec.Command("python3", "-c", `
import mmap, sys
f = open(sys.argv[1], "rb")
m = mmap.mmap(f.fileno(), 0, mmap.MAP_SHARED, mmap.PROT_READ)
print(m[0], flush=True)
sys.stdin.readline()
print(m[0], flush=True)
`, path)
	in, err := holder.StdinPipe()
	require.NoError(t, err)
	out, err := holder.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, holder.Start())
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	lines := bufio.NewReader(out)
	first, err := lines.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "1\n", first, "the holder maps the segment's bytes")

	r = storeOps(t, store, nil, "rm", id, "private", "8192", "attach", "$", "read")
	require.Equal(t, 0, r.Code, r.String())
	assert.Contains(t, r.Stdout, "read = \n", r.String())
	assert.NoFileExists(t, path, "the destroyed segment's file is removed")
	_, err = fmt.Fprintln(in)
	require.NoError(t, err)
	again, err := lines.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "1\n", again, "the holder's bytes are untouched")
}

// plantOldPool makes store look as an earlier engine that kept destroyed
// segments' files for reuse leaves it: n files segments/free-<gen>, listed
// in the header, each one page of non-zero bytes.  Returns their paths.
func plantOldPool(t *testing.T, store string, n int) []string {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(store, "registry"), os.O_RDWR, 0)
	require.NoError(t, err)
	defer f.Close()
	var paths []string
	var b [8]byte
	for i := 0; i < n; i++ {
		gen := uint64(1000 + i) // above any generation the test made
		p := filepath.Join(store, "segments", "free-"+strconv.FormatUint(gen, 10))
		require.NoError(t, os.WriteFile(p, []byte(strings.Repeat("x", os.Getpagesize())), 0o666))
		paths = append(paths, p)
		binary.LittleEndian.PutUint64(b[:], gen)
		_, err = f.WriteAt(b[:], int64(regFreeGensOff+8*i))
		require.NoError(t, err)
	}
	binary.LittleEndian.PutUint32(b[:4], uint32(n))
	_, err = f.WriteAt(b[:4], regNfreeOff)
	require.NoError(t, err)
	return paths
}

func oldPoolListed(t *testing.T, store string) uint32 {
	t.Helper()
	reg, err := os.ReadFile(filepath.Join(store, "registry"))
	require.NoError(t, err)
	return binary.LittleEndian.Uint32(reg[regNfreeOff:])
}

// The files an earlier engine kept for reuse are never given to a new
// segment (their blocks may still be a destroyed segment's on the disk);
// the next creation, goshm gc, or the repair after a reboot removes them
// and empties the list.
func TestOldPoolFilesAreRemoved(t *testing.T) {
	start := func(t *testing.T) (string, []string) {
		store := newStore(t)
		r := storeOps(t, store, nil, "private", "8192", "rm", "$")
		require.Equal(t, 0, r.Code, r.String())
		return store, plantOldPool(t, store, 3)
	}
	t.Run("creation", func(t *testing.T) {
		store, old := start(t)
		r := storeOps(t, store, nil, "private", "4096", "attach", "$", "read")
		require.Equal(t, 0, r.Code, r.String())
		assert.Contains(t, r.Stdout, "read = \n", "a new file, zeroed\n%s", r)
		assert.Empty(t, r.Stderr)
		for _, p := range old {
			assert.NoFileExists(t, p)
		}
		assert.Zero(t, oldPoolListed(t, store))
		assert.Len(t, dataFiles(t, store), 1)
	})
	t.Run("gc", func(t *testing.T) {
		store, old := start(t)
		gc := goshmCLI(t, store, "gc")
		require.Equal(t, 0, gc.Code, gc.String())
		for _, p := range old {
			assert.NoFileExists(t, p)
			assert.Contains(t, gc.Stdout, filepath.Base(p), "gc names what it removes")
		}
		assert.Zero(t, oldPoolListed(t, store))
	})
	t.Run("repair", func(t *testing.T) {
		store, old := start(t)
		f, err := os.OpenFile(filepath.Join(store, "registry"), os.O_WRONLY, 0)
		require.NoError(t, err)
		_, err = f.WriteAt([]byte("an earlier boot!"), regBootIDOff)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		r := storeOps(t, store, nil, "find", "0x1234")
		require.Empty(t, r.Stderr, r.String())
		for _, p := range old {
			assert.NoFileExists(t, p)
		}
		assert.Zero(t, oldPoolListed(t, store))
	})
}

// Creation and destruction across kills (docs/FORMAT.md, "Crash
// consistency"): a process that destroys two segments and makes one is
// killed at each system call of those steps in turn.  Whatever the
// moment, the next locked call finds every data file named by exactly one
// live segment -- never lost, never shared -- and the store goes on
// working: a new segment starts zeroed, and gc leaves the live segments'
// files.
func TestCreateDestroySurvivesKills(t *testing.T) {
	testenv.RequireRoot(t)
	_, err := exec.LookPath("strace")
	require.NoError(t, err, "strace (installed by make test)")
	prog := testenv.Artifact(t, "tests/conf_store_ops")
	for _, call := range []string{"openat2", "fcntl", "fchmod", "fallocate", "unlinkat", "close"} {
		for when := 1; when <= 12; when++ {
			t.Run(call+"#"+strconv.Itoa(when), func(t *testing.T) {
				store := newStore(t)
				r := storeOps(t, store, nil, "private", "8192", "attach", "$", "write", "detach",
					"private", "8192", "attach", "$", "write", "detach")
				require.Equal(t, 0, r.Code, r.String())
				ids := values(r.Stdout)
				require.Len(t, ids, 8, r.String())

				// Remove both, then make one, killed at the when-th call.
				kill := []string{"strace", "-f", "-qq", "-o", "/dev/null",
					"-e", "trace=" + call, "-e", "inject=" + call + ":signal=KILL:when=" + strconv.Itoa(when),
					"env", "LD_PRELOAD=" + testenv.Lib(t), "GOSHM_DIR=" + store, prog,
					"rm", ids[0], "rm", ids[4], "private", "4096", "attach", "$", "write", "detach"}
				testenv.Run(t, testenv.Opts{NewIPC: true}, kill...)

				// The next locked call settles what the kill left.
				r = storeOps(t, store, nil, "private", "8192", "attach", "$", "read", "detach")
				require.Equal(t, 0, r.Code, r.String())
				assert.Contains(t, r.Stdout, "read = \n", "a new segment starts zeroed\n%s", r)
				assert.Empty(t, r.Stderr)

				live := 0
				ls := goshmCLI(t, store, "ls")
				require.Equal(t, 0, ls.Code, ls.String())
				for _, line := range strings.Split(ls.Stdout, "\n") {
					if strings.HasPrefix(line, "0x") {
						live++
					}
				}
				assert.Len(t, allDataFiles(t, store), live, "one data file per live segment\n%s", ls.Stdout)
				gc := goshmCLI(t, store, "gc")
				require.Equal(t, 0, gc.Code, gc.String())
				assert.Len(t, allDataFiles(t, store), live, "after gc: the live segments' files only")
			})
		}
	}
}

// allDataFiles are the names of segments/'s data files (seg-<gen>, tokens
// excluded).
func allDataFiles(t *testing.T, store string) []string {
	t.Helper()
	var out []string
	for _, p := range dataFiles(t, store) {
		out = append(out, filepath.Base(p))
	}
	return out
}
