// Command capi is built with -buildmode=c-shared into libgoshm.so.
//
// It has no Go code of its own: importing the engine links its C functions
// (shmget, shmat, shmdt, shmctl and the goshm_* API of include/goshm.h)
// into the shared library, where they are exported.  No exported function
// is Go, so none of them starts Go code in the programs the library is
// preloaded into.
package main

import _ "github.com/goshm/goshm/capi/engine"

func main() {}
