package engine

/*
#include <stdlib.h>
#include "goshm.h"
*/
import "C"

import "unsafe"

// ShmOpen is shm_open(3) on this store, whatever GOSHM_POSIX says: the
// object <store>/posix/<name>, with glibc's name rules and errno.  It
// returns the descriptor, which the caller owns.
func (s *Store) ShmOpen(name string, flags int, mode uint32) (int, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	fd, err := C.goshm_store_shm_open(s.p, cname, C.int(flags), C.mode_t(mode))
	if fd < 0 {
		return -1, errnoOf(err)
	}
	return int(fd), nil
}

// ShmUnlink is shm_unlink(3) on this store.
func (s *Store) ShmUnlink(name string) error {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	if r, err := C.goshm_store_shm_unlink(s.p, cname); r < 0 {
		return errnoOf(err)
	}
	return nil
}
