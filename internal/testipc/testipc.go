// Package testipc runs a test binary in an IPC namespace of its own.
//
// Tests of the Go package and the CLI call the engine in the test process
// itself.  Run in the machine's IPC namespace, every store a test deletes
// with a segment still in it (t.TempDir's clean-up) would leave that
// segment's one-byte presence segment behind in the host's namespace until
// a reboot: the kernel keeps a namespace's segments as long as the
// namespace lives.  In a namespace of the test binary's own, they end with
// it.
package testipc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// inside marks a test binary that already runs in its namespace; its
// helper processes inherit it, and the namespace.
const inside = "GOSHM_TEST_PRIVATE_IPC"

// reexec runs this test binary again, with the same arguments, in a new
// IPC namespace, and returns its exit code with done true.  It returns
// done false, and the caller runs its tests here, when the binary runs in
// such a namespace already or is not root (which may not make one).
func reexec() (code int, done bool) {
	if os.Getenv(inside) != "" || os.Geteuid() != 0 {
		return 0, false
	}
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), inside+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWIPC}
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, true
	case errors.As(err, &exit):
		return exit.ExitCode(), true
	default:
		fmt.Fprintf(os.Stderr, "testipc: running the tests in a new IPC namespace: %v\n", err)
		return 1, true
	}
}

// Main is a test package's TestMain: its tests, in a namespace of their
// own when reexec makes one.  It does not return.
func Main(m *testing.M) {
	if code, done := reexec(); done {
		os.Exit(code)
	}
	os.Exit(m.Run())
}
