// Package engine is goshm's C engine: the System V shared-memory calls
// served from a store directory.  The C code in this directory is linked
// into libgoshm.so (through ../main.go) and into every Go program that
// imports package goshm, so C and Go processes share one implementation
// and one on-disk format (docs/FORMAT.md).
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
