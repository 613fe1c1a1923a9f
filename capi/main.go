// Command capi is built with -buildmode=c-shared into libgoshm.so.
//
// It has no Go code of its own beyond init: importing the engine links its
// C functions (shmget, shmat, shmdt, shmctl and the goshm_* API of
// include/goshm.h) into the shared library, where they are exported.  No
// exported function is Go, so none of them starts Go code in the programs
// the library is preloaded into.
//
// The Go runtime of a c-shared library reads the cgroup CPU limit at load
// and keeps the two cgroup files open for the life of the process, to
// follow later changes of the limit (Go 1.25+): two descriptors of every
// preloaded program that goshm never uses.  containermaxprocs=0 turns
// that off; the dormant runtime's GOMAXPROCS does not matter.
//
//go:debug containermaxprocs=0
package main

/*
// Tells the engine's constructor that this runtime's init reports its
// start (capi/engine/runtime_threads.c).
__attribute__((visibility("hidden"))) const int gs_runtime_reports_start = 1;
extern void gs_runtime_started(void);
*/
import "C"

import _ "github.com/goshm/goshm/capi/engine"

// init runs on a runtime thread once the runtime has started, while the
// loading program waits in the engine's constructor to set the runtime's
// threads' signal masks (capi/engine/runtime_threads.c).
func init() {
	C.gs_runtime_started()
}

func main() {}
