package goshm_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/goshm/goshm/goshm"
	"github.com/goshm/goshm/internal/testipc"
)

// The test binary doubles as the other process of a test: with
// GOSHM_TEST_HELPER set it runs that helper instead of the tests.
// As root, the tests run in an IPC namespace of their own
// (internal/testipc), and their helpers with them.
func TestMain(m *testing.M) {
	if h := os.Getenv("GOSHM_TEST_HELPER"); h != "" {
		os.Exit(runHelper(h, os.Args[len(os.Args)-1]))
	}
	testipc.Main(m)
}

func runHelper(name, arg string) int {
	st, err := goshm.Default()
	if err != nil {
		fmt.Println(err)
		return 1
	}
	switch name {
	case "default-dir":
		fmt.Println(st.Dir())
		return 0
	case "attach-and-wait":
		// Attach the segment with id arg, say so, and wait to be killed.
		id, _ := strconv.Atoi(arg)
		if _, err := st.Segment(id).Attach(0); err != nil {
			fmt.Println(err)
			return 1
		}
		fmt.Println("attached")
		io.Copy(io.Discard, os.Stdin)
		return 0
	case "unprivileged":
		// Every call an ordinary user makes on root's 0600 segment with
		// key arg: one line "call errno" each.
		key, _ := strconv.ParseInt(arg, 0, 64)
		_, err := st.Get(int(key), 0, 0, 0o600)
		fmt.Println("get-rw", errnoName(err))
		seg, err := st.Get(int(key), 0, 0, 0)
		fmt.Println("get-none", errnoName(err))
		if seg == nil {
			return 1
		}
		_, err = seg.Attach(goshm.SHM_RDONLY)
		fmt.Println("attach-ro", errnoName(err))
		_, err = seg.Stat()
		fmt.Println("stat", errnoName(err))
		fmt.Println("setperm", errnoName(seg.SetPerm(1000, 1000, 0o666)))
		fmt.Println("lock", errnoName(seg.Lock()))
		fmt.Println("remove", errnoName(seg.Remove()))
		list, err := st.List()
		fmt.Println("list", errnoName(err), len(list))
		return 0
	case "drop-ids":
		// Stat root's 0600 segment with key arg as root, become uid 1000
		// through the syscall package (which goes through the C library
		// in a cgo program, to every thread), and stat it again from
		// every thread the runtime has.
		key, _ := strconv.ParseInt(arg, 0, 64)
		seg, err := st.Get(int(key), 0, 0, 0)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		_, err = seg.Stat()
		fmt.Println("stat as root", errnoName(err))
		if err := syscall.Setresgid(1000, 1000, 1000); err != nil {
			fmt.Println(err)
			return 1
		}
		if err := syscall.Setresuid(1000, 1000, 1000); err != nil {
			fmt.Println(err)
			return 1
		}
		denied := 0
		for i := 0; i < 100; i++ {
			if _, err := seg.Stat(); errors.Is(err, unix.EACCES) {
				denied++
			}
			runtime.Gosched()
		}
		fmt.Println("stat as 1000, denied", denied, "of 100")
		return 0
	}
	fmt.Println("unknown helper", name)
	return 2
}

// errnoName is "OK" for nil, the errno's name for an error that wraps one.
func errnoName(err error) string {
	var e syscall.Errno
	switch {
	case err == nil:
		return "OK"
	case errors.As(err, &e):
		return unix.ErrnoName(e)
	}
	return err.Error()
}

// newStoreDir is a path for a store that does not exist yet, in a
// directory every user can enter.
func newStoreDir(t *testing.T) string {
	t.Helper()
	parent, err := os.MkdirTemp("", "goshm-pkgtest-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(parent, 0o755))
	t.Cleanup(func() { os.RemoveAll(parent) })
	return filepath.Join(parent, "store")
}

func newStore(t *testing.T) *goshm.Store {
	t.Helper()
	st, err := goshm.Open(newStoreDir(t))
	require.NoError(t, err)
	return st
}

// helperBinary is a copy of the test binary that every user may run (the
// original lives in a directory only its owner can enter).
func helperBinary(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	data, err := os.ReadFile(self)
	require.NoError(t, err)
	dir, err := os.MkdirTemp("", "goshm-helper-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "goshm.test")
	require.NoError(t, os.WriteFile(bin, data, 0o755))
	return bin
}

// helperCmd runs helper name with arg against the store in dir, as uid
// (0 = as we are).
func helperCmd(t *testing.T, dir string, uid int, name, arg string) *exec.Cmd {
	t.Helper()
	var argv []string
	if uid != 0 {
		if os.Geteuid() != 0 {
			t.Fatalf("running a helper as uid %d needs root (setpriv); run the tests as root", uid)
		}
		argv = append(argv, "setpriv", fmt.Sprintf("--reuid=%d", uid),
			fmt.Sprintf("--regid=%d", uid), "--clear-groups")
	}
	argv = append(argv, helperBinary(t), arg)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "GOSHM_TEST_HELPER="+name, "GOSHM_DIR="+dir)
	return cmd
}

func runHelperCmd(t *testing.T, dir string, uid int, name, arg string) string {
	t.Helper()
	cmd := helperCmd(t, dir, uid, name, arg)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	require.NoError(t, cmd.Run(), "helper %s: %s%s", name, out.String(), errb.String())
	return out.String()
}

// startAttached starts a helper process that attaches segment id and
// stays attached until it is killed.
func startAttached(t *testing.T, dir string, id int) *exec.Cmd {
	t.Helper()
	cmd := helperCmd(t, dir, 0, "attach-and-wait", strconv.Itoa(id))
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "attached", strings.TrimSpace(line))
	return cmd
}
