package goshm

import (
	"errors"
	"math"
	"os"
	"syscall"
	"time"

	"github.com/goshm/goshm/capi/engine"
)

// SemSet is a System V semaphore set in a store.  Programs use a store's
// sets through the library (unless GOSHM_SEM=0; docs/DIFFERENCES.md,
// "System V semaphores"); this type lists, inspects and removes them.
type SemSet struct {
	store *Store
	id    int
}

// SemStat is a set's struct semid_ds, plus its id and values.
type SemStat struct {
	ID    int
	Key   int
	UID   uint32
	GID   uint32
	CUID  uint32
	CGID  uint32
	Mode  uint32
	Seq   uint16
	Otime time.Time // last semop; zero if never
	Ctime time.Time // creation or last IPC_SET, SETVAL, SETALL
	Nsems int
	// Values are the semaphores' values (GETALL).
	Values []uint16
}

// Perm is the permission bits of Mode.
func (st *SemStat) Perm() os.FileMode { return os.FileMode(st.Mode & 0o777) }

// SemGet is semget(2) on the store: the set with key, created with nsems
// semaphores when flags has IPC_CREAT and the key has none (or for
// IPC_PRIVATE), with the permission bits of perm.
func (s *Store) SemGet(key, nsems, flags int, perm os.FileMode) (*SemSet, error) {
	fail := func(err error) error {
		return &OpError{Op: "semget", Dir: s.Dir(), Key: key, ID: -1, Err: err}
	}
	if key < math.MinInt32 || key > math.MaxUint32 {
		return nil, fail(syscall.EINVAL)
	}
	k := int32(uint32(key))
	if key < 0 {
		k = int32(key)
	}
	id, err := s.e.Semget(k, nsems, flags|int(perm.Perm()))
	if err != nil {
		return nil, fail(err)
	}
	return &SemSet{store: s, id: id}, nil
}

// SemSet returns the set with the given id without checking that it
// exists: its methods fail with EINVAL if it does not.
func (s *Store) SemSet(id int) *SemSet { return &SemSet{store: s, id: id} }

// ID is the set's id (semid).
func (ss *SemSet) ID() int { return ss.id }

// Stat is semctl(IPC_STAT) and semctl(GETALL).
func (ss *SemSet) Stat() (*SemStat, error) {
	_, d, err := ss.store.e.SemStat(ss.id, false)
	if err != nil {
		return nil, ss.store.opErr("semctl IPC_STAT", ss.id, err)
	}
	st := semStatOf(ss.id, d)
	if st.Values, err = ss.store.e.SemValues(ss.id, st.Nsems); err != nil {
		return nil, ss.store.opErr("semctl GETALL", ss.id, err)
	}
	return &st, nil
}

// SemCount is what semctl says of one semaphore besides its value.
type SemCount struct {
	Ncnt, Zcnt int // waiters for an increase, for zero (GETNCNT, GETZCNT)
	PID        int // last process to change it (GETPID)
}

// Counts is GETNCNT, GETZCNT and GETPID of every semaphore of the set.
func (ss *SemSet) Counts(nsems int) ([]SemCount, error) {
	out := make([]SemCount, nsems)
	for i := range out {
		n, z, p, err := ss.store.e.SemCounts(ss.id, i)
		if err != nil {
			return nil, ss.store.opErr("semctl GETNCNT", ss.id, err)
		}
		out[i] = SemCount{Ncnt: n, Zcnt: z, PID: p}
	}
	return out, nil
}

// Remove is semctl(IPC_RMID): the set goes at once, and processes
// waiting on it fail with EIDRM.
func (ss *SemSet) Remove() error {
	if err := ss.store.e.SemRemove(ss.id); err != nil {
		return ss.store.opErr("semctl IPC_RMID", ss.id, err)
	}
	return nil
}

// SemSets lists the store's semaphore sets (SEM_STAT_ANY over every
// index, as ipcs -s does), in index order, with their values.  A set the
// engine cannot read (EIO: a damaged store) is left out, and named in the
// error returned along with the sets that could be read.
func (s *Store) SemSets() ([]SemStat, error) {
	max, err := s.e.SemMaxIndex()
	if err != nil {
		return nil, s.opErr("semctl SEM_INFO", -1, err)
	}
	var sets []SemStat
	var damaged []error
	for i := 0; i <= max; i++ {
		id, d, err := s.e.SemStat(i, true)
		if errors.Is(err, syscall.EINVAL) {
			continue // no set at this index
		}
		if errors.Is(err, syscall.EIO) {
			damaged = append(damaged, s.opErr("semctl SEM_STAT_ANY", i, err))
			continue
		}
		if err != nil {
			return nil, s.opErr("semctl SEM_STAT_ANY", i, err)
		}
		st := semStatOf(id, d)
		vals, err := s.e.SemValues(id, st.Nsems)
		if err == nil {
			st.Values = vals
		}
		sets = append(sets, st)
	}
	return sets, errors.Join(damaged...)
}

func semStatOf(id int, d engine.SemidDS) SemStat {
	return SemStat{
		ID:    id,
		Key:   int(d.Key),
		UID:   d.UID,
		GID:   d.GID,
		CUID:  d.CUID,
		CGID:  d.CGID,
		Mode:  d.Mode,
		Seq:   d.Seq,
		Otime: unixTime(d.Otime),
		Ctime: unixTime(d.Ctime),
		Nsems: int(d.Nsems),
	}
}
