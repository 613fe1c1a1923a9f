package goshm

import (
	"os"
	"syscall"
	"unsafe"

	"github.com/goshm/goshm/capi/engine"
)

// Segment is a segment of a store, named by its id.  It holds no other
// state: several Segment values (or processes) with the same id are the
// same segment.
type Segment struct {
	store *Store
	id    int
}

// ID is the segment's id (shmid), the same in every process.
func (g *Segment) ID() int { return g.id }

// Store is the store the segment belongs to.
func (g *Segment) Store() *Store { return g.store }

func (g *Segment) opErr(op string, err error) error {
	return g.store.opErr(op, g.id, err)
}

// Attach is shmat(2) at an address the kernel chooses.  The slice is the
// mapping itself: len and cap are the segment's size (shm_segsz), writes
// are seen at once by every process attached to the segment, and it stays
// valid until Detach, even after Remove.  With SHM_RDONLY a write to it
// crashes the program (SIGSEGV), as in C.
//
// Errors: EINVAL (no such id, or SHM_REMAP, which needs an address),
// EACCES (permissions).
func (g *Segment) Attach(flags int) ([]byte, error) {
	p, err := g.store.e.Shmat(g.id, flags)
	if err != nil {
		return nil, g.opErr("shmat", err)
	}
	// The size needs IPC_STAT, which needs read permission; shmat already
	// checked it.  Undo the attach if the stat fails all the same.
	_, ds, err := g.store.e.Stat(g.id, engine.IPC_STAT)
	if err != nil {
		engine.Shmdt(p)
		return nil, g.opErr("shmctl IPC_STAT", err)
	}
	return unsafe.Slice((*byte)(p), ds.Segsz), nil
}

// Detach is shmdt(2) of the attach that b starts at (b as Attach returned
// it, or any slice starting at its first byte).  b and every slice of it
// are dead afterwards: using them crashes the program.  Detaching twice is
// EINVAL, as in C.
func (g *Segment) Detach(b []byte) error {
	if len(b) == 0 {
		return g.opErr("shmdt", syscall.EINVAL)
	}
	if err := engine.Shmdt(unsafe.Pointer(unsafe.SliceData(b))); err != nil {
		return g.opErr("shmdt", err)
	}
	return nil
}

// Stat is shmctl(IPC_STAT).  It needs read permission (EACCES).
func (g *Segment) Stat() (*Stat, error) {
	_, ds, err := g.store.e.Stat(g.id, engine.IPC_STAT)
	if err != nil {
		return nil, g.opErr("shmctl IPC_STAT", err)
	}
	st := statOf(g.id, ds)
	return &st, nil
}

// Remove is shmctl(IPC_RMID): the key is free at once and the segment is
// destroyed at its last detach (now, if nobody has it attached).  Only the
// owner, the creator or a process with CAP_SYS_ADMIN may (EPERM).
func (g *Segment) Remove() error {
	if err := g.store.e.Ctl(g.id, engine.IPC_RMID); err != nil {
		return g.opErr("shmctl IPC_RMID", err)
	}
	return nil
}

// Sync flushes the segment to disk: its bytes, and what the store needs to
// find it again.  Once it returns nil, a power cut or a crash of the machine
// leaves the segment with the bytes it had at the call (docs/DURABILITY.md).
// Without it the kernel writes the pages back when it chooses, about every
// 30 s.  Errors: EINVAL (no such id), EIO (the disk failed).
func (g *Segment) Sync() error {
	if err := g.store.e.Sync(g.id); err != nil {
		return g.opErr("sync", err)
	}
	return nil
}

// SetPerm is shmctl(IPC_SET): the owner's uid and gid and the permission
// bits.  The same callers as Remove may.
func (g *Segment) SetPerm(uid, gid uint32, perm os.FileMode) error {
	if err := g.store.e.Set(g.id, uid, gid, uint32(perm.Perm())); err != nil {
		return g.opErr("shmctl IPC_SET", err)
	}
	return nil
}

// Lock is shmctl(SHM_LOCK): it sets SHM_LOCKED, with the kernel's rules
// (owner or creator with a non-zero RLIMIT_MEMLOCK, or CAP_IPC_LOCK).  The
// pages of a file-backed segment are not pinned in memory.
func (g *Segment) Lock() error {
	if err := g.store.e.Ctl(g.id, engine.SHM_LOCK); err != nil {
		return g.opErr("shmctl SHM_LOCK", err)
	}
	return nil
}

// Unlock is shmctl(SHM_UNLOCK).
func (g *Segment) Unlock() error {
	if err := g.store.e.Ctl(g.id, engine.SHM_UNLOCK); err != nil {
		return g.opErr("shmctl SHM_UNLOCK", err)
	}
	return nil
}
