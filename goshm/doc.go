// Package goshm is System V shared memory that survives container
// restarts, for Go programs.
//
// Segments live in a store directory (GOSHM_DIR, default /var/lib/goshm)
// instead of the kernel's IPC namespace, so they outlive every process and
// the namespace itself.  The package runs the same C engine as
// libgoshm.so, on the same on-disk format: a Go program and a C program
// that uses the library (LD_PRELOAD or -lgoshm) share segments by key, see
// each other's writes at once, and count each other's attaches in
// shm_nattch.
//
// The calls follow Linux: the same ids (the first segment of a fresh store
// has id 0), the same struct shmid_ds contents and the same errno values,
// wrapped in an *OpError with context:
//
//	st, _ := goshm.Open("/data/goshm")
//	seg, err := st.Get(0x1234, 4096, goshm.IPC_CREAT, 0o600)
//	if errors.Is(err, unix.EEXIST) { ... }
//	b, err := seg.Attach(0)         // len(b) == 4096, backed by the segment
//	copy(b, "hello")
//	err = seg.Detach(b)             // b must not be used after this
//
// Constants keep their C names, like golang.org/x/sys/unix.
//
// The store also holds POSIX shared-memory objects, the files that C
// programs under the library create with shm_open when GOSHM_POSIX is
// set: OpenPOSIX, RemovePOSIX, ListPOSIX and StatPOSIX reach them.
//
// All types are safe for concurrent use by several goroutines.
//
// A program that imports this package contains the engine, including its
// definitions of the C symbols shmget, shmat, shmdt and shmctl: C code
// linked into the same program (through cgo) therefore uses goshm's store
// too.  Its shm_open and shm_unlink follow GOSHM_POSIX, as under the
// library.
package goshm
