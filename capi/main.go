// Command capi is built with -buildmode=c-shared into libgoshm-go.so, the
// Go-built form of the library (`make` builds libgoshm.so, the default,
// from the same C sources with the C compiler alone; docs/DESIGN.md says
// which to pick).
//
// It has no Go code of its own beyond init: importing the engine links its
// C functions (shmget, shmat, shmdt, shmctl and the goshm_* API of
// include/goshm.h) into the shared library, where they are exported.  No
// exported function is Go, so none of them starts Go code in the programs
// the library is preloaded into.
//
// What it adds to the engine is the Go runtime that -buildmode=c-shared
// embeds, and the C files beside this one, which keep that runtime's
// threads and handlers out of the program's signals (runtime.h).
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
#cgo CFLAGS: -std=gnu11 -O2 -Wall -Wextra -Werror -fvisibility=hidden
#include "runtime.h"

// cgo's wrapper for a call without arguments or result has a parameter it
// does not use; this applies to the generated file only, not to the C
// files beside this one.
#pragma GCC diagnostic ignored "-Wunused-parameter"
*/
import "C"

import _ "github.com/goshm/goshm/capi/engine"

// init runs on a runtime thread once the runtime has started, while the
// loading program waits in runtime_signals.c's constructor to set the
// runtime's threads' signal masks (runtime_threads.c).
func init() {
	C.gs_runtime_started()
}

func main() {}
