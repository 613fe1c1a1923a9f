package engine

/*
#define _GNU_SOURCE
#include <errno.h>
#include <sys/sem.h>
#include "goshm.h"

#ifndef SEM_STAT_ANY
#define SEM_STAT_ANY 20
#endif

static int gs_go_sem_stat(goshm_store *s, int id, int cmd, struct semid_ds *d)
{
	return goshm_store_semctl(s, id, 0, cmd, d, 0);
}

static int gs_go_sem_info(goshm_store *s, struct seminfo *si)
{
	return goshm_store_semctl(s, 0, 0, SEM_INFO, si, 0);
}

static int gs_go_sem_getall(goshm_store *s, int id, unsigned short *vals)
{
	return goshm_store_semctl(s, id, 0, GETALL, vals, 0);
}

static int gs_go_sem_rmid(goshm_store *s, int id)
{
	return goshm_store_semctl(s, id, 0, IPC_RMID, NULL, 0);
}

static int gs_go_sem_stat_any(void) { return SEM_STAT_ANY; }

static int gs_go_sem_num(goshm_store *s, int id, int num, int cmd)
{
	return goshm_store_semctl(s, id, num, cmd, NULL, 0);
}
*/
import "C"

import "unsafe"

// SemidDS holds the fields of struct semid_ds, as Go values.
type SemidDS struct {
	Key                  int32
	UID, GID, CUID, CGID uint32
	Mode                 uint32
	Seq                  uint16
	Otime, Ctime         int64 // seconds since the epoch, 0 = never
	Nsems                uint64
}

// Semget is semget(2) on this store (semaphores are served from it only
// through this call and the library's, unless GOSHM_SEM=0).
func (s *Store) Semget(key int32, nsems, flags int) (int, error) {
	r, err := C.goshm_store_semget(s.p, C.key_t(key), C.int(nsems), C.int(flags))
	if r < 0 {
		return -1, errnoOf(err)
	}
	return int(r), nil
}

// SemStat is semctl(id, 0, cmd, buf) for IPC_STAT (id is an id) and
// SEM_STAT_ANY (id is an index; the result is the set's id).
func (s *Store) SemStat(id int, any bool) (int, SemidDS, error) {
	cmd := C.int(C.IPC_STAT)
	if any {
		cmd = C.gs_go_sem_stat_any()
	}
	var d C.struct_semid_ds
	r, err := C.gs_go_sem_stat(s.p, C.int(id), cmd, &d)
	if r < 0 {
		return -1, SemidDS{}, errnoOf(err)
	}
	return int(r), SemidDS{
		Key:   int32(d.sem_perm.__key),
		UID:   uint32(d.sem_perm.uid),
		GID:   uint32(d.sem_perm.gid),
		CUID:  uint32(d.sem_perm.cuid),
		CGID:  uint32(d.sem_perm.cgid),
		Mode:  uint32(d.sem_perm.mode),
		Seq:   uint16(d.sem_perm.__seq),
		Otime: int64(d.sem_otime),
		Ctime: int64(d.sem_ctime),
		Nsems: uint64(d.sem_nsems),
	}, nil
}

// SemMaxIndex is SEM_INFO's result: the highest index in use (0 when
// none is).
func (s *Store) SemMaxIndex() (int, error) {
	var si C.struct_seminfo
	r, err := C.gs_go_sem_info(s.p, &si)
	if r < 0 {
		return -1, errnoOf(err)
	}
	return int(r), nil
}

// SemValues is semctl(GETALL): every value of the set of n semaphores.
func (s *Store) SemValues(id, n int) ([]uint16, error) {
	if n <= 0 {
		return nil, nil
	}
	vals := make([]uint16, n)
	r, err := C.gs_go_sem_getall(s.p, C.int(id), (*C.ushort)(unsafe.Pointer(&vals[0])))
	if r < 0 {
		return nil, errnoOf(err)
	}
	return vals, nil
}

// SemRemove is semctl(IPC_RMID).
func (s *Store) SemRemove(id int) error {
	r, err := C.gs_go_sem_rmid(s.p, C.int(id))
	if r < 0 {
		return errnoOf(err)
	}
	return nil
}

// SemCounts is GETNCNT, GETZCNT and GETPID of semaphore num.
func (s *Store) SemCounts(id, num int) (ncnt, zcnt, pid int, err error) {
	for i, cmd := range []C.int{C.GETNCNT, C.GETZCNT, C.GETPID} {
		r, e := C.gs_go_sem_num(s.p, C.int(id), C.int(num), cmd)
		if r < 0 {
			return 0, 0, 0, errnoOf(e)
		}
		switch i {
		case 0:
			ncnt = int(r)
		case 1:
			zcnt = int(r)
		default:
			pid = int(r)
		}
	}
	return ncnt, zcnt, pid, nil
}
