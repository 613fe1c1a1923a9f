// Command capi is built with -buildmode=c-shared into libgoshm.so.
//
// It has no Go code of its own: importing the engine links its C functions
// (shmget, shmat, shmdt, shmctl and the goshm_* API of include/goshm.h)
// into the shared library, where they are exported.  No exported function
// is Go, so none of them starts Go code in the programs the library is
// preloaded into.
//
// The Go runtime of a c-shared library reads the cgroup CPU limit at load
// and keeps the two cgroup files open for the life of the process, to
// follow later changes of the limit (Go 1.25+): two descriptors of every
// preloaded program that goshm never uses.  containermaxprocs=0 turns
// that off; the dormant runtime's GOMAXPROCS does not matter.
//
//go:debug containermaxprocs=0
package main

import _ "github.com/goshm/goshm/capi/engine"

func main() {}
