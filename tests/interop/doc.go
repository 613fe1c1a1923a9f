// Package interop tests goshm's Go side against its C side: the Go demos
// against the write-up's C programs, a Go process against a C process
// under the library (testenv.Lib: libgoshm.so, and in make test's second
// run libgoshm-go.so), and the goshm command as operators run it (as
// other users, under LD_PRELOAD, in other namespaces).
package interop
