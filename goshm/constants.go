package goshm

import "github.com/goshm/goshm/capi/engine"

// Flags of Get, Attach and the segment's mode, with the values of the C
// headers (<sys/ipc.h>, <sys/shm.h>).
const (
	IPC_PRIVATE = engine.IPC_PRIVATE // key: always a new segment
	IPC_CREAT   = engine.IPC_CREAT   // Get: create the key if it is missing
	IPC_EXCL    = engine.IPC_EXCL    // Get with IPC_CREAT: fail if it exists

	SHM_RDONLY = engine.SHM_RDONLY // Attach read-only
	SHM_RND    = engine.SHM_RND    // round the address down (C callers only)
	SHM_REMAP  = engine.SHM_REMAP  // replace a mapping (needs an address: EINVAL here)
	SHM_EXEC   = engine.SHM_EXEC   // Attach executable (needs x permission)

	SHM_DEST   = engine.SHM_DEST   // Mode: removed, destroyed at the last detach
	SHM_LOCKED = engine.SHM_LOCKED // Mode: locked with Lock
)
