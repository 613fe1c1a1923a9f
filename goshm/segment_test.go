package goshm_test

import (
	"os"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/goshm/goshm/goshm"
)

// Create, attach twice, write through one slice and read through the
// other, and watch shmid_ds follow each step like the kernel's.
func TestLifecycle(t *testing.T) {
	st := newStore(t)
	before := time.Now().Add(-time.Second)

	seg, err := st.Get(0x5678, 27, goshm.IPC_CREAT|goshm.IPC_EXCL, 0o640)
	require.NoError(t, err)
	assert.Equal(t, 0, seg.ID(), "the first id of a fresh store, as in a fresh IPC namespace")

	s, err := seg.Stat()
	require.NoError(t, err)
	assert.Equal(t, 0x5678, s.Key)
	assert.Equal(t, uint32(os.Geteuid()), s.UID)
	assert.Equal(t, uint32(os.Geteuid()), s.CUID)
	assert.Equal(t, uint32(os.Getegid()), s.GID)
	assert.Equal(t, uint32(os.Getegid()), s.CGID)
	assert.Equal(t, uint32(0o640), s.Mode)
	assert.Equal(t, uint64(27), s.Size)
	assert.Equal(t, os.Getpid(), s.CPID)
	assert.Equal(t, 0, s.LPID)
	assert.Equal(t, uint64(0), s.Nattch)
	assert.True(t, s.Atime.IsZero(), "never attached")
	assert.True(t, s.Dtime.IsZero(), "never detached")
	assert.True(t, s.Ctime.After(before), "ctime %v", s.Ctime)
	assert.False(t, s.Removed())
	assert.False(t, s.Locked())

	w, err := seg.Attach(0)
	require.NoError(t, err)
	again, err := st.Get(0x5678, 0, 0, 0o600)
	require.NoError(t, err)
	assert.Equal(t, seg.ID(), again.ID())
	r, err := again.Attach(goshm.SHM_RDONLY)
	require.NoError(t, err)
	copy(w, "hello, segment")
	assert.Equal(t, "hello, segment", string(r[:14]), "writes are seen at once")

	s, err = seg.Stat()
	require.NoError(t, err)
	assert.Equal(t, uint64(2), s.Nattch)
	assert.Equal(t, os.Getpid(), s.LPID)
	assert.True(t, s.Atime.After(before))

	require.NoError(t, again.Detach(r))
	s, err = seg.Stat()
	require.NoError(t, err)
	assert.Equal(t, uint64(1), s.Nattch)
	assert.True(t, s.Dtime.After(before))

	// Removed while attached: the key is free at once, the id lives on.
	require.NoError(t, seg.Remove())
	s, err = seg.Stat()
	require.NoError(t, err)
	assert.True(t, s.Removed())
	assert.Equal(t, goshm.IPC_PRIVATE, s.Key)
	_, err = st.Get(0x5678, 0, 0, 0)
	assert.ErrorIs(t, err, unix.ENOENT)
	assert.Equal(t, "hello, segment", string(w[:14]), "still mapped after Remove")

	require.NoError(t, seg.Detach(w))
	_, err = seg.Stat()
	assert.ErrorIs(t, err, unix.EINVAL, "destroyed at the last detach")
}

func TestAttachSliceIsTheSegmentSize(t *testing.T) {
	st := newStore(t)
	page := os.Getpagesize()
	for _, size := range []int{1, 27, page, page + 1, 3*page - 1, 1 << 20} {
		seg, err := st.Get(goshm.IPC_PRIVATE, size, goshm.IPC_CREAT, 0o600)
		require.NoError(t, err)
		b, err := seg.Attach(0)
		require.NoError(t, err)
		assert.Equal(t, size, len(b), "len")
		assert.Equal(t, size, cap(b), "cap")
		b[size-1] = 0x5a // the last byte is writable
		require.NoError(t, seg.Detach(b))
		require.NoError(t, seg.Remove())
	}
}

func TestDetach(t *testing.T) {
	st := newStore(t)
	seg, err := st.Get(goshm.IPC_PRIVATE, 100, goshm.IPC_CREAT, 0o600)
	require.NoError(t, err)
	b, err := seg.Attach(0)
	require.NoError(t, err)

	// Only the start of an attach can be detached, as with shmdt(2).
	assert.ErrorIs(t, seg.Detach(b[1:]), unix.EINVAL)
	assert.ErrorIs(t, seg.Detach(nil), unix.EINVAL)
	require.NoError(t, seg.Detach(b[:1]))
	err = seg.Detach(b)
	assert.ErrorIs(t, err, unix.EINVAL, "detaching twice")
	var op *goshm.OpError
	require.ErrorAs(t, err, &op)
	assert.Equal(t, "shmdt", op.Op)
	s, err := seg.Stat()
	require.NoError(t, err)
	assert.Equal(t, uint64(0), s.Nattch)
}

func TestErrors(t *testing.T) {
	st := newStore(t)
	_, err := st.Get(0x42, 100, 0, 0o600)
	assert.ErrorIs(t, err, unix.ENOENT, "no key, no IPC_CREAT")
	var op *goshm.OpError
	require.ErrorAs(t, err, &op)
	assert.Equal(t, "shmget", op.Op)
	assert.Equal(t, 0x42, op.Key)
	assert.Equal(t, st.Dir(), op.Dir)
	assert.Equal(t, "shmget key 0x00000042 (store "+st.Dir()+"): no such file or directory", err.Error())

	seg, err := st.Get(0x42, 100, goshm.IPC_CREAT, 0o600)
	require.NoError(t, err)
	_, err = st.Get(0x42, 100, goshm.IPC_CREAT|goshm.IPC_EXCL, 0o600)
	assert.ErrorIs(t, err, unix.EEXIST)
	_, err = st.Get(0x42, 101, 0, 0o600)
	assert.ErrorIs(t, err, unix.EINVAL, "larger than the segment")
	_, err = st.Get(0x43, 0, goshm.IPC_CREAT, 0o600)
	assert.ErrorIs(t, err, unix.EINVAL, "a new segment of size 0")
	_, err = st.Get(0x43, -1, goshm.IPC_CREAT, 0o600)
	assert.ErrorIs(t, err, unix.EINVAL, "a negative size")
	_, err = st.Get(1<<33, 10, goshm.IPC_CREAT, 0o600)
	assert.ErrorIs(t, err, unix.EINVAL, "a key that is no key_t")
	_, err = st.Get(goshm.IPC_PRIVATE, 1<<62, goshm.IPC_CREAT, 0o600)
	assert.ErrorIs(t, err, unix.ENOMEM, "a size no file can have, as the kernel's ENOMEM")

	_, err = seg.Attach(goshm.SHM_REMAP)
	assert.ErrorIs(t, err, unix.EINVAL, "SHM_REMAP needs an address")
	_, err = st.Segment(seg.ID() + 1).Attach(0)
	assert.ErrorIs(t, err, unix.EINVAL, "unknown id")
	require.ErrorAs(t, err, &op)
	assert.Equal(t, "shmat", op.Op)
	assert.Equal(t, seg.ID()+1, op.ID)
	assert.Contains(t, err.Error(), "shmat id 1 (store ")
	assert.ErrorIs(t, st.Segment(-1).Remove(), unix.EINVAL)
	_, err = st.Segment(1 << 20).Stat()
	assert.ErrorIs(t, err, unix.EINVAL)

	// A segment that no key names, by a key beyond MaxInt32 as C keeps it.
	hi, err := st.Get(0xdeadbeef, 10, goshm.IPC_CREAT, 0o600)
	require.NoError(t, err)
	s, err := hi.Stat()
	require.NoError(t, err)
	assert.Equal(t, int(int32(-559038737)), s.Key)
	again, err := st.Get(-559038737, 0, 0, 0)
	require.NoError(t, err)
	assert.Equal(t, hi.ID(), again.ID())
}

// A store that cannot be used: Get gives EPERM (EACCES would mean another
// user's key to programs that pick keys by trial), and the engine names
// the store.
func TestUnusableStore(t *testing.T) {
	dir := newStoreDir(t)
	require.NoError(t, os.WriteFile(dir, []byte("not a directory"), 0o644))
	st, err := goshm.Open(dir)
	require.NoError(t, err, "opening touches nothing")
	_, err = st.Get(goshm.IPC_PRIVATE, 10, goshm.IPC_CREAT, 0o600)
	assert.ErrorIs(t, err, unix.EPERM)
	assert.True(t, strings.HasPrefix(err.Error(), "shmget key 0x00000000 (store "+dir+")"), err.Error())
}

func TestSetPermAndLock(t *testing.T) {
	st := newStore(t)
	seg, err := st.Get(0x77, 4096, goshm.IPC_CREAT, 0o600)
	require.NoError(t, err)
	require.NoError(t, seg.SetPerm(1234, 5678, 0o644|os.ModeSticky))
	s, err := seg.Stat()
	require.NoError(t, err)
	assert.Equal(t, uint32(1234), s.UID)
	assert.Equal(t, uint32(5678), s.GID)
	assert.Equal(t, uint32(os.Geteuid()), s.CUID, "the creator stays")
	assert.Equal(t, uint32(0o644), s.Mode, "only permission bits are set")

	require.NoError(t, seg.Lock())
	s, err = seg.Stat()
	require.NoError(t, err)
	assert.True(t, s.Locked())
	assert.Equal(t, uint32(0o644|goshm.SHM_LOCKED), s.Mode)
	require.NoError(t, seg.Unlock())
	s, err = seg.Stat()
	require.NoError(t, err)
	assert.False(t, s.Locked())

	assert.ErrorIs(t, seg.SetPerm(0xffffffff, 0, 0o600), unix.EINVAL, "uid -1")
}

// rootsSegment makes root's 0600 segment with key in a new store, for a
// test whose helper needs root (why).
func rootsSegment(t *testing.T, key int, why string) (string, *goshm.Segment) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("this test needs root (%s); run the tests as root", why)
	}
	dir := newStoreDir(t)
	st, err := goshm.Open(dir)
	require.NoError(t, err)
	seg, err := st.Get(key, 64, goshm.IPC_CREAT, 0o600)
	require.NoError(t, err)
	return dir, seg
}

// What the kernel refuses an ordinary user on root's 0600 segment, the
// package refuses too: EACCES for access, EPERM for changes.
func TestUnprivilegedUser(t *testing.T) {
	dir, seg := rootsSegment(t, 0x3000, "it runs a helper as uid 1000")

	out := runHelperCmd(t, dir, 1000, "unprivileged", "0x3000")
	assert.Equal(t, strings.Join([]string{
		"get-rw EACCES",
		"get-none OK",
		"attach-ro EACCES",
		"stat EACCES",
		"setperm EPERM",
		"lock EPERM",
		"remove EPERM",
		"list OK 1", // SHM_STAT_ANY needs no permission
	}, "\n")+"\n", out)

	s, err := seg.Stat()
	require.NoError(t, err)
	assert.False(t, s.Removed())
	assert.Equal(t, uint32(0o600), s.Mode)
}

// A Go program that changes its ids with the syscall package is judged by
// the new ones at its next call, on every thread: in a cgo program those
// calls go through the C library's set*id(), which the engine watches
// (capi/engine/creds.c).
func TestIdsChangedBySyscallPackage(t *testing.T) {
	dir, seg := rootsSegment(t, 0x3001, "its helper changes ids")
	t.Cleanup(func() { seg.Remove() })

	out := runHelperCmd(t, dir, 0, "drop-ids", "0x3001")
	assert.Equal(t, "stat as root OK\nstat as 1000, denied 100 of 100\n", out)
}

func TestList(t *testing.T) {
	st := newStore(t)
	segs, err := st.List()
	require.NoError(t, err)
	assert.Empty(t, segs, "a fresh store")

	want := map[int]int{} // id -> size
	for i := range 5 {
		seg, err := st.Get(0x1000+i, 1000*(i+1), goshm.IPC_CREAT, 0o600|os.FileMode(i))
		require.NoError(t, err)
		want[seg.ID()] = 1000 * (i + 1)
	}
	gone := st.Segment(1)
	require.NoError(t, gone.Remove()) // not attached: destroyed at once
	delete(want, 1)
	dest := st.Segment(3)
	b, err := dest.Attach(0)
	require.NoError(t, err)
	require.NoError(t, dest.Remove()) // attached: listed as removed

	segs, err = st.List()
	require.NoError(t, err)
	got := map[int]int{}
	for _, s := range segs {
		got[s.ID] = int(s.Size)
		switch s.ID {
		case 3:
			assert.True(t, s.Removed())
			assert.Equal(t, goshm.IPC_PRIVATE, s.Key)
			assert.Equal(t, uint64(1), s.Nattch)
		default:
			assert.False(t, s.Removed())
			assert.Equal(t, 0x1000+s.ID, s.Key)
			assert.Equal(t, os.FileMode(0o600|s.ID), s.Perm())
			assert.Equal(t, uint64(0), s.Nattch)
		}
	}
	assert.Equal(t, want, got)

	require.NoError(t, dest.Detach(b))
	segs, err = st.List()
	require.NoError(t, err)
	assert.Len(t, segs, 3)
}

func TestInfo(t *testing.T) {
	st := newStore(t)
	page := uint64(os.Getpagesize())
	_, err := st.Get(1, int(page)+1, goshm.IPC_CREAT, 0o600)
	require.NoError(t, err)
	_, err = st.Get(2, 1, goshm.IPC_CREAT, 0o600)
	require.NoError(t, err)
	info, err := st.Info()
	require.NoError(t, err)
	assert.Equal(t, 1, info.MaxIndex)
	assert.Equal(t, 2, info.UsedIDs)
	assert.Equal(t, uint64(3), info.ShmTot)
	assert.Equal(t, uint64(3), info.ShmRSS, "space is reserved at creation")
	assert.Equal(t, uint64(4096), info.Shmmni)
	assert.Equal(t, uint64(1), info.Shmmin)
	assert.Equal(t, uint64(0), info.ShmSwp)
}

// A segment whose last attach ended in a SIGKILL, after IPC_RMID: GC finds
// it (dry run first), stray files too; attached segments are left alone.
func TestGC(t *testing.T) {
	st := newStore(t)
	victim, err := st.Get(0x10, 4096, goshm.IPC_CREAT, 0o600)
	require.NoError(t, err)
	kept, err := st.Get(0x11, 4096, goshm.IPC_CREAT, 0o600)
	require.NoError(t, err)

	helper := startAttached(t, st.Dir(), victim.ID())
	other := startAttached(t, st.Dir(), kept.ID())
	require.NoError(t, victim.Remove())
	require.NoError(t, kept.Remove())

	items, err := st.GC(false)
	require.NoError(t, err)
	assert.Empty(t, items, "both still attached")

	require.NoError(t, helper.Process.Kill())
	helper.Wait()
	stray := st.Dir() + "/segments/.tmp-999.12345"
	require.NoError(t, os.WriteFile(stray, nil, 0o644))

	items, err = st.GC(true)
	require.NoError(t, err)
	want := []goshm.GCItem{
		{Kind: goshm.GCSegment, ID: victim.ID(), Path: st.Dir() + "/segments/seg-1"},
		{Kind: goshm.GCFile, ID: -1, Path: stray},
	}
	assert.ElementsMatch(t, want, items)
	assert.FileExists(t, stray, "a dry run changes nothing")

	items, err = st.GC(false)
	require.NoError(t, err)
	assert.ElementsMatch(t, want, items)
	assert.NoFileExists(t, stray)
	assert.NoFileExists(t, st.Dir()+"/segments/seg-1")
	_, err = victim.Stat()
	assert.ErrorIs(t, err, unix.EINVAL)

	s, err := kept.Stat()
	require.NoError(t, err, "still attached by a live process")
	assert.Equal(t, uint64(1), s.Nattch)
	items, err = st.GC(false)
	require.NoError(t, err)
	assert.Empty(t, items)
	_ = other
}

// Open("") is GOSHM_DIR, read by the engine once per process.
func TestDefaultStoreIsGOSHM_DIR(t *testing.T) {
	dir := newStoreDir(t)
	out := runHelperCmd(t, dir, 0, "default-dir", "")
	assert.Equal(t, dir+"\n", out)
}

// Goroutines share segments and stores freely.
func TestConcurrentGoroutines(t *testing.T) {
	st := newStore(t)
	shared, err := st.Get(0x99, 64*8, goshm.IPC_CREAT, 0o600)
	require.NoError(t, err)
	errs := make(chan error, 64)
	for g := range 64 {
		go func() {
			errs <- func() error {
				b, err := shared.Attach(0)
				if err != nil {
					return err
				}
				for i := range 8 {
					b[g*8+i] = byte(g)
				}
				own, err := st.Get(goshm.IPC_PRIVATE, 1000+g, goshm.IPC_CREAT, 0o600)
				if err != nil {
					return err
				}
				o, err := own.Attach(0)
				if err != nil {
					return err
				}
				o[len(o)-1] = byte(g)
				if err := own.Detach(o); err != nil {
					return err
				}
				if err := own.Remove(); err != nil {
					return err
				}
				return shared.Detach(b)
			}()
		}()
	}
	for range 64 {
		require.NoError(t, <-errs)
	}
	b, err := shared.Attach(goshm.SHM_RDONLY)
	require.NoError(t, err)
	for g := range 64 {
		for i := range 8 {
			require.Equal(t, byte(g), b[g*8+i])
		}
	}
	s, err := shared.Stat()
	require.NoError(t, err)
	assert.Equal(t, uint64(1), s.Nattch)
	require.NoError(t, shared.Detach(b))
	segs, err := st.List()
	require.NoError(t, err)
	require.Len(t, segs, 1, "every goroutine's own segment is gone")
	assert.Equal(t, shared.ID(), segs[0].ID)
}

// A Go program unmaps without the C library (the syscall and x/sys/unix
// packages make the system call themselves), so the engine in it must
// not trust its attach table as the preloaded library does
// (capi/engine/mapwatch.c): after the program unmaps an attach and maps
// its own memory there, Detach fails as the kernel's shmdt does, and the
// program's memory stays.
func TestDetachAfterUnmapWithoutTheCLibrary(t *testing.T) {
	st := newStore(t)
	page := os.Getpagesize()
	seg, err := st.Get(goshm.IPC_PRIVATE, 2*page, goshm.IPC_CREAT, 0o600)
	require.NoError(t, err)
	t.Cleanup(func() { seg.Remove() })
	b, err := seg.Attach(0)
	require.NoError(t, err)
	at := unsafe.Pointer(&b[0])
	require.NoError(t, unix.MunmapPtr(at, uintptr(len(b))))
	p, err := unix.MmapPtr(-1, 0, at, uintptr(len(b)), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED)
	require.NoError(t, err)
	mine := unsafe.Slice((*byte)(p), len(b))
	t.Cleanup(func() { unix.MunmapPtr(p, uintptr(len(mine))) })
	mine[0] = 'p'

	require.ErrorIs(t, seg.Detach(b), unix.EINVAL, "no attach is mapped there any more")
	assert.Equal(t, byte('p'), mine[0], "the program's own mapping is still there")
	s, err := seg.Stat()
	require.NoError(t, err)
	assert.Equal(t, uint64(0), s.Nattch)
}
