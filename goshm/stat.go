package goshm

import (
	"os"
	"time"

	"github.com/goshm/goshm/capi/engine"
)

// Stat is a segment's struct shmid_ds, every field of it, plus its id.
type Stat struct {
	ID int // the segment's id (shmid)

	// shm_perm
	Key  int    // shm_perm.__key (IPC_PRIVATE after Remove)
	UID  uint32 // owner
	GID  uint32
	CUID uint32 // creator
	CGID uint32
	Mode uint32 // permission bits | SHM_DEST | SHM_LOCKED
	Seq  uint16 // shm_perm.__seq: the sequence number part of the id

	Size   uint64    // shm_segsz, in bytes as asked (the mapping is whole pages)
	Atime  time.Time // last attach; zero if never
	Dtime  time.Time // last detach; zero if never
	Ctime  time.Time // creation or last IPC_SET
	CPID   int       // creator's pid
	LPID   int       // pid of the last attach or detach
	Nattch uint64    // attaches in every process and IPC namespace
}

// Perm is the permission bits of Mode.
func (st *Stat) Perm() os.FileMode { return os.FileMode(st.Mode & 0o777) }

// Removed says the segment is marked for removal (SHM_DEST): its key is
// free and it is destroyed at its last detach.
func (st *Stat) Removed() bool { return st.Mode&SHM_DEST != 0 }

// Locked says SHM_LOCK was applied (SHM_LOCKED).
func (st *Stat) Locked() bool { return st.Mode&SHM_LOCKED != 0 }

func unixTime(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}

func statOf(id int, d engine.ShmidDS) Stat {
	return Stat{
		ID:     id,
		Key:    int(d.Key),
		UID:    d.UID,
		GID:    d.GID,
		CUID:   d.CUID,
		CGID:   d.CGID,
		Mode:   d.Mode,
		Seq:    d.Seq,
		Size:   d.Segsz,
		Atime:  unixTime(d.Atime),
		Dtime:  unixTime(d.Dtime),
		Ctime:  unixTime(d.Ctime),
		CPID:   int(d.Cpid),
		LPID:   int(d.Lpid),
		Nattch: d.Nattch,
	}
}
