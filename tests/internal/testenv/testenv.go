// Package testenv gives goshm's integration tests one way to find the
// built artifacts, make throwaway stores, and run programs natively or
// under the shim, in fresh IPC namespaces and as other users.
package testenv

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Root is the repository's top directory (where go.mod is).
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("getwd: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// Artifact is the path of something `make` builds, such as "libgoshm.so"
// or "legacy/systemv_shm_wr".  A missing artifact fails the test: run make.
func Artifact(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(Root(t), "build", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s is not built (run `make` first): %v", p, err)
	}
	return p
}

// RequireRoot fails unless the test runs as root.  On goshm's machines the
// tests run as root; a skip would hide a missing check.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("this test needs root (unshare, setpriv, sysctl); run make test as root")
	}
}

// NewStore returns a path for a store that does not exist yet, inside a
// directory every user can enter, removed when the test ends.
func NewStore(t testing.TB) string {
	t.Helper()
	parent, err := os.MkdirTemp("", "goshm-test-")
	if err != nil {
		t.Fatalf("mkdtemp: %v", err)
	}
	if err := os.Chmod(parent, 0o755); err != nil {
		t.Fatalf("chmod: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	return filepath.Join(parent, "store")
}

// Unprivileged is the uid and gid the tests use for "an ordinary user".
const (
	UnprivUID = 1000
	UnprivGID = 1000
)

// Opts says how to run a program.
type Opts struct {
	Preload bool          // LD_PRELOAD=Lib, the library under test
	Lib     string        // the library Preload preloads instead of Lib
	Store   string        // GOSHM_DIR (set whenever non-empty)
	NewIPC  bool          // in a fresh IPC namespace (unshare --ipc)
	UID     int           // run as this uid/gid when non-zero (setpriv)
	GID     int           //
	Env     []string      // more environment
	Dir     string        // working directory
	Stdin   string        // standard input
	Timeout time.Duration // default 60s
}

// Result is what a program did.
type Result struct {
	Stdout, Stderr string
	Code           int // exit code, or -1 when killed by a signal
	Err            error
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.Code, r.Stdout, r.Stderr)
}

// Command builds the exec.Cmd for argv under opts.
func Command(t testing.TB, ctx context.Context, o Opts, argv ...string) *exec.Cmd {
	t.Helper()
	var wrap []string
	if o.NewIPC {
		wrap = append(wrap, "unshare", "--ipc")
	}
	if o.UID != 0 || o.GID != 0 {
		wrap = append(wrap, "setpriv", fmt.Sprintf("--reuid=%d", o.UID),
			fmt.Sprintf("--regid=%d", o.GID), "--clear-groups")
	}
	// The shim is preloaded into the program only, not into unshare or
	// setpriv: that is what is under test, and libgoshm-go.so carries a
	// Go runtime whose threads break setpriv's per-thread capability
	// juggling (docs/DIFFERENCES.md).
	if o.Preload {
		lib := o.Lib
		if lib == "" {
			lib = Lib(t)
		}
		wrap = append(wrap, "env", "LD_PRELOAD="+lib)
	}
	args := append(wrap, argv...)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	env := os.Environ()
	env = filterEnv(env, "LD_PRELOAD", "GOSHM_DIR")
	if o.Store != "" {
		env = append(env, "GOSHM_DIR="+o.Store)
	}
	cmd.Env = append(env, o.Env...)
	cmd.Dir = o.Dir
	if o.Stdin != "" {
		cmd.Stdin = strings.NewReader(o.Stdin)
	}
	return cmd
}

// Run runs argv under opts and returns what happened; it never fails the
// test by itself.
func Run(t testing.TB, o Opts, argv ...string) Result {
	t.Helper()
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := Command(t, ctx, o, argv...)
	// A program that outlives its deadline goes with everything it
	// started: a child it forked and left behind (its parent killed)
	// would keep the output pipes open, and the test waiting on them for
	// ever.  Its own process group, killed whole; and Wait gives up on
	// the pipes a while after the program is gone.  (Not for the
	// programs tests start with Command: some of them are a setsid(1),
	// which forks when it leads its group.)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := Result{Stdout: out.String(), Stderr: errb.String(), Err: err}
	var ee *exec.ExitError
	switch {
	case err == nil:
		res.Code = 0
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
	default:
		res.Code = -1
	}
	if ctx.Err() != nil {
		res.Err = fmt.Errorf("timed out after %v: %w", timeout, err)
		res.Code = -1
	}
	return res
}

func filterEnv(env []string, names ...string) []string {
	out := env[:0:0]
next:
	for _, kv := range env {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

// ELF opens the ELF file at path for reading its dynamic section and
// symbols; it is closed when the test ends.
func ELF(t testing.TB, path string) *elf.File {
	t.Helper()
	f, err := elf.Open(path)
	require.NoError(t, err, "open %s as ELF", path)
	t.Cleanup(func() { f.Close() })
	return f
}
