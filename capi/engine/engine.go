// Package engine is goshm's C engine: the System V shared-memory calls
// served from a store directory.  The C code in this directory is the
// whole of libgoshm.so (built by the C compiler alone, see the Makefile
// and CMakeLists.txt), is linked into libgoshm-go.so (through ../main.go),
// and is compiled by cgo into every Go program that imports package goshm,
// so C and Go processes share one implementation and one on-disk format
// (docs/FORMAT.md).  The cgo flags below are the C build's, so that both
// compile the same code the same way.
//
// Nothing in the C code calls Go: the library is preloaded into programs
// that fork, and Go code run in a forked child hangs.
package engine

/*
#cgo CFLAGS: -I${SRCDIR}/../../include -std=gnu11 -O2 -Wall -Wextra -Werror -fvisibility=hidden
#include <stdlib.h>
#include "goshm.h"
*/
import "C"
