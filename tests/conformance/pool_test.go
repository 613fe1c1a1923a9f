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
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// poolFiles are the data files of destroyed segments the store keeps for
// reuse (capi/engine/freepool.c), by name, with their inode numbers: the
// files the registry's header lists, each of which must exist.
func poolFiles(t *testing.T, store string) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for name := range testenv.PooledDataFiles(t, store) {
		out[name] = inodeOf(t, filepath.Join(store, "segments", name))
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
// made -- one rename instead of an unlink and a create, which a journaled
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

// The pool across kills (docs/FORMAT.md, "Crash consistency"): a process
// that destroys a segment (its file goes to the pool) and makes another
// (which takes the file back) is killed at each system call of those
// steps in turn.  Whatever the moment, the next locked call finds every
// data file named by exactly one live segment or listed in the pool --
// never lost, never shared, never both -- and the store goes on working:
// a new segment starts zeroed.
func TestPoolSurvivesKills(t *testing.T) {
	testenv.RequireRoot(t)
	_, err := exec.LookPath("strace")
	require.NoError(t, err, "strace (installed by make test)")
	prog := testenv.Artifact(t, "tests/conf_store_ops")
	for _, call := range []string{"openat2", "openat", "fcntl", "fallocate", "renameat2", "unlinkat", "close"} {
		for when := 1; when <= 12; when++ {
			t.Run(call+"#"+strconv.Itoa(when), func(t *testing.T) {
				store := newStore(t)
				r := storeOps(t, store, nil, "private", "8192", "attach", "$", "write", "detach",
					"private", "8192", "attach", "$", "write", "detach")
				require.Equal(t, 0, r.Code, r.String())
				ids := values(r.Stdout)
				require.Len(t, ids, 8, r.String())

				// Remove both (the first's file is pooled), then make one
				// (it takes a pooled file), killed at the when-th call.
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
				pooled := testenv.PooledDataFiles(t, store)
				var data []string
				for _, name := range allDataFiles(t, store) {
					if !pooled[name] {
						data = append(data, name)
					}
				}
				assert.Len(t, data, live, "one data file per live segment: %v, pooled %v\n%s", data, pooled, ls.Stdout)
				for name := range pooled {
					assert.FileExists(t, filepath.Join(store, "segments", name), "a listed file exists")
				}
				gc := goshmCLI(t, store, "gc")
				require.Equal(t, 0, gc.Code, gc.String())
				assert.Len(t, allDataFiles(t, store), live, "after gc: the live segments' files only")
			})
		}
	}
}

// allDataFiles are the names of segments/'s data files (seg-<gen>, tokens
// excluded), pooled or not.
func allDataFiles(t *testing.T, store string) []string {
	t.Helper()
	var out []string
	for _, p := range dataFiles(t, store) {
		out = append(out, filepath.Base(p))
	}
	return out
}

// The lease probe that proves nobody maps a pooled file is broken by
// anybody who opens the file meanwhile -- a backup tool reading the store
// -- and the kernel then signals the prober: SIGIO by default, whose
// default action ended the program making the segment.  Here the probe's
// lease is held for a second (strace delays the return of the creation's
// third fcntl, F_SETLEASE) while another process opens the pooled file:
// the creating program lives and gets its segment.
func TestPoolProbeBrokenByAnOpenDoesNotKill(t *testing.T) {
	testenv.RequireRoot(t)
	_, err := exec.LookPath("strace")
	require.NoError(t, err, "strace (installed by make test)")
	store := newStore(t)
	r := storeOps(t, store, nil, "private", "8192", "rm", "$")
	require.Equal(t, 0, r.Code, r.String())
	pool := poolFiles(t, store)
	require.Len(t, pool, 1)
	var name string
	for n := range pool {
		name = n
	}

	// The creation's fcntl calls: the registry's lock, F_SETSIG, then
	// F_SETLEASE (the probe), then F_SETLEASE F_UNLCK.
	create := exec.Command("strace", "-f", "-qq", "-o", "/dev/null",
		"-e", "trace=fcntl", "-e", "inject=fcntl:delay_exit=1000000:when=3",
		"env", "LD_PRELOAD="+testenv.Lib(t), "GOSHM_DIR="+store,
		testenv.Artifact(t, "tests/conf_store_ops"), "private", "8192")
	var out strings.Builder
	create.Stdout = &out
	require.NoError(t, create.Start())
	time.Sleep(400 * time.Millisecond) // inside the delayed F_SETLEASE
	f, err := os.Open(filepath.Join(store, "segments", name))
	if err == nil {
		f.Close()
	}
	err = create.Wait()
	require.NoError(t, err, "the creating program must survive a broken lease probe\n%s", out.String())
	assert.Regexp(t, `^private 8192 = \d+\n$`, out.String())
}
