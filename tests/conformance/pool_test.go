package conformance

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// poolFiles are the data files of destroyed segments the store keeps for
// reuse (capi/engine/freepool.c), by name, with their inode numbers.
func poolFiles(t *testing.T, store string) map[string]uint64 {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(store, "segments"))
	require.NoError(t, err)
	out := map[string]uint64{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "free-") {
			info, err := e.Info()
			require.NoError(t, err)
			out[e.Name()] = info.Sys().(*syscall.Stat_t).Ino
		}
	}
	return out
}

func inodeOf(t *testing.T, path string) uint64 {
	t.Helper()
	info, err := os.Stat(path)
	require.NoError(t, err)
	return info.Sys().(*syscall.Stat_t).Ino
}

// A destroyed segment's data file is kept and given to the next segment
// made -- a rename instead of an unlink and a create, which a journaled
// file system makes dear -- and the new segment starts zeroed, whatever
// its size, as the kernel's do.
func TestDestroyedDataFilesAreReusedZeroed(t *testing.T) {
	for _, size := range []string{"8192", "4096", "20000"} {
		t.Run(size, func(t *testing.T) {
			store := newStore(t)
			r := storeOps(t, store, nil, "private", "8192", "attach", "$", "write", "detach", "rm", "$")
			require.Equal(t, 0, r.Code, r.String())
			pool := poolFiles(t, store)
			require.Len(t, pool, 1, "the destroyed segment's file is kept")
			var ino uint64
			for _, i := range pool {
				ino = i
			}

			r = storeOps(t, store, nil, "private", size, "attach", "$", "read", "stat", "$")
			require.Equal(t, 0, r.Code, r.String())
			assert.Contains(t, r.Stdout, "read = \n", "a reused file starts zeroed\n%s", r)
			assert.Empty(t, poolFiles(t, store), "taken from the pool")
			data := dataFiles(t, store)
			require.Len(t, data, 1)
			assert.Equal(t, ino, inodeOf(t, data[0]), "the same file, renamed")
			info, err := os.Stat(data[0])
			require.NoError(t, err)
			page := int64(os.Getpagesize())
			want := map[string]int64{"8192": 8192, "4096": 4096, "20000": (20000 + page - 1) / page * page}[size]
			assert.Equal(t, want, info.Size(), "the new segment's size")
			assert.Empty(t, r.Stderr)
		})
	}
}

// A kept file that a process still maps -- a program that mapped the data
// file itself, say -- is never reused, nor zeroed under that process: it is
// removed from the pool and the new segment gets a file of its own.
func TestPooledFileStillMappedIsNotReused(t *testing.T) {
	store := newStore(t)
	r := storeOps(t, store, nil, "private", "8192", "attach", "$", "write", "detach", "rm", "$")
	require.Equal(t, 0, r.Code, r.String())
	pool := poolFiles(t, store)
	require.Len(t, pool, 1)
	var name string
	var ino uint64
	for n, i := range pool {
		name, ino = n, i
	}
	path := filepath.Join(store, "segments", name)

	// A process that maps the file (read-only, shared) and holds it.
	holder := exec.Command("python3", "-c", `
import mmap, sys, time
f = open(sys.argv[1], "rb")
m = mmap.mmap(f.fileno(), 0, mmap.MAP_SHARED, mmap.PROT_READ)
print(m[0], flush=True)
time.sleep(60)
print(m[0], flush=True)
`, path)
	out, err := holder.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, holder.Start())
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	first, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "1\n", first, "the holder maps the old bytes")

	r = storeOps(t, store, nil, "private", "8192", "attach", "$", "read")
	require.Equal(t, 0, r.Code, r.String())
	assert.Contains(t, r.Stdout, "read = \n", r.String())
	data := dataFiles(t, store)
	require.Len(t, data, 1)
	assert.NotEqual(t, ino, inodeOf(t, data[0]), "a new file, not the one still mapped")
	assert.Empty(t, poolFiles(t, store), "the mapped file left the pool")
	b, err := os.ReadFile("/proc/" + strconv.Itoa(holder.Process.Pid) + "/maps")
	require.NoError(t, err)
	assert.Contains(t, string(b), name, "the holder still maps its file, untouched")
}

// goshm gc empties the pool: it leaves only what segments use.
func TestGCEmptiesThePool(t *testing.T) {
	store := newStore(t)
	r := storeOps(t, store, nil, "private", "8192", "rm", "$", "private", "4096", "rm", "$")
	require.Equal(t, 0, r.Code, r.String())
	require.NotEmpty(t, poolFiles(t, store))
	gc := goshmCLI(t, store, "gc")
	require.Equal(t, 0, gc.Code, gc.String())
	assert.Empty(t, poolFiles(t, store))
}
