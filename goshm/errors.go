package goshm

import "fmt"

// OpError is the error of every call that reached the engine: which call,
// on which store and segment, and the errno that Linux would have given,
// so that errors.Is(err, unix.ENOENT) works.
type OpError struct {
	Op  string // "shmget", "shmat", "shmdt", "shmctl IPC_STAT", "gc", ...
	Dir string // the store's directory
	Key int    // for shmget: the key
	ID  int    // the segment's id (for SHM_STAT_ANY: the index); -1 for shmget
	Err error  // a syscall.Errno (the same type as unix.Errno)
}

func (e *OpError) Error() string {
	var what string
	switch {
	case e.Op == "shmget":
		what = fmt.Sprintf(" key 0x%08x", uint32(int32(e.Key)))
	case e.ID >= 0:
		what = fmt.Sprintf(" id %d", e.ID)
	}
	return fmt.Sprintf("%s%s (store %s): %v", e.Op, what, e.Dir, e.Err)
}

// Unwrap returns the errno.
func (e *OpError) Unwrap() error { return e.Err }
