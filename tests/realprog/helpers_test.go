// Package realprog runs real third-party System V programs under goshm:
// PostgreSQL 15, stress-ng, Python's sysv_ipc and Perl's IPC::SharedMem,
// plus a kill-heavy soak test checked against a model.  Each test logs the
// version of the program it ran and what it checked; docs/TESTED-PROGRAMS.md
// lists them.
package realprog

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// workDir is a temporary directory that every user may enter (the
// programs under test run as other users), removed when the test ends.
func workDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "goshm-realprog-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o755))
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// shimEnv is the argv prefix that runs a program under goshm (the library
// under test, testenv.Lib) with store.  It is applied with env(1) right
// before the program, after nsenter and setpriv: only the program is under
// test, and setpriv aborts when the Go runtime's threads of libgoshm-go.so
// are present (docs/TESTED-PROGRAMS.md).
func shimEnv(t *testing.T, store string) []string {
	return shimEnvWith(testenv.Lib(t), store)
}

func shimEnvWith(lib, store string) []string {
	return []string{"env", "LD_PRELOAD=" + lib, "GOSHM_DIR=" + store}
}

// copyLib copies the library under test into dir, for programs that run
// as another user: the checkout (and its build/) may not be readable by
// them.
func copyLib(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(testenv.Lib(t))
	require.NoError(t, err)
	p := filepath.Join(dir, testenv.LibName())
	require.NoError(t, os.WriteFile(p, b, 0o755))
	return p
}

// account is a local user the programs run as.
type account struct {
	name     string
	uid, gid int
}

func lookupAccount(t *testing.T, name string) account {
	t.Helper()
	u, err := user.Lookup(name)
	require.NoError(t, err, "user %s (installed with its Debian package)", name)
	uid, err := strconv.Atoi(u.Uid)
	require.NoError(t, err)
	gid, err := strconv.Atoi(u.Gid)
	require.NoError(t, err)
	return account{name: name, uid: uid, gid: gid}
}

// as is the argv prefix that runs a program as a.
func (a account) as() []string {
	return []string{"setpriv", fmt.Sprintf("--reuid=%d", a.uid),
		fmt.Sprintf("--regid=%d", a.gid), "--clear-groups"}
}

func (a account) chown(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		require.NoError(t, os.Chown(p, a.uid, a.gid))
	}
}

// ipcNS keeps a fresh IPC namespace alive with a sleeping process, so
// that a test can run several programs in it one after the other.
type ipcNS struct {
	cmd *exec.Cmd
}

func newIPCNS(t *testing.T) *ipcNS {
	t.Helper()
	testenv.RequireRoot(t)
	// unshare without --fork execs sleep: the pid we get is the holder's.
	cmd := exec.Command("unshare", "--ipc", "--", "sleep", "86400")
	require.NoError(t, cmd.Start())
	ns := &ipcNS{cmd: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	// Wait until the holder really is in its own namespace.
	self, err := os.Readlink("/proc/self/ns/ipc")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/ipc", cmd.Process.Pid))
		return err == nil && l != self
	}, 10*time.Second, 10*time.Millisecond)
	return ns
}

// enter is the argv prefix that runs a program in the namespace.
func (n *ipcNS) enter() []string {
	return []string{"nsenter", "-t", strconv.Itoa(n.cmd.Process.Pid), "--ipc", "--"}
}

func cat(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// run runs argv (without goshm in its environment unless argv says so)
// and returns what happened.
func run(t *testing.T, timeout time.Duration, argv ...string) testenv.Result {
	t.Helper()
	return testenv.Run(t, testenv.Opts{Timeout: timeout}, argv...)
}

// mustRun runs argv and fails the test unless it exits 0.
func mustRun(t *testing.T, timeout time.Duration, argv ...string) testenv.Result {
	t.Helper()
	r := run(t, timeout, argv...)
	require.Equal(t, 0, r.Code, "%s\n%s", strings.Join(argv, " "), r)
	return r
}

// start starts argv in the background with stdout and stderr going to
// logPath; the process is killed at the end of the test if still running.
func start(t *testing.T, logPath string, argv ...string) *proc {
	t.Helper()
	cmd := testenv.Command(t, context.Background(), testenv.Opts{}, argv...)
	f, err := os.Create(logPath)
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = f, f
	require.NoError(t, cmd.Start(), strings.Join(argv, " "))
	p := &proc{cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

// proc is a background process started by start.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  string
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait waits for the process to end and returns its exit status as a
// shell would report it (128+signal when killed).
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%s did not end within %v; log:\n%s", p.cmd.Path, timeout, p.output(t))
	}
	ws := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

func (p *proc) output(t *testing.T) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.log, err)
	}
	return string(b)
}

// ---- What the store and the kernel hold. ----

var dataFileRE = regexp.MustCompile(`^seg-\d+$`)

// storeFile is a file of a store's segments/ directory.
type storeFile struct {
	name string
	size int64
}

// storeFiles lists segments/ of a store: the data files, and the rest
// (token files, temporary files).
func storeFiles(t *testing.T, store string) (data, other []storeFile) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(store, "segments"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	require.NoError(t, err)
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		f := storeFile{name: e.Name(), size: info.Size()}
		if dataFileRE.MatchString(e.Name()) {
			data = append(data, f)
		} else {
			other = append(other, f)
		}
	}
	return data, other
}

// ipcsSeg is one line of `ipcs -m`.
type ipcsSeg struct {
	key, owner, perms, status string
	id, bytes, nattch         int
}

// ipcs lists the kernel's segments of the IPC namespace that enter leads
// into (the caller's own with an empty enter).
func ipcs(t *testing.T, enter []string) []ipcsSeg {
	t.Helper()
	r := mustRun(t, 30*time.Second, cat(enter, []string{"ipcs", "-m"})...)
	var segs []ipcsSeg
	sc := bufio.NewScanner(strings.NewReader(r.Stdout))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || !strings.HasPrefix(f[0], "0x") {
			continue
		}
		s := ipcsSeg{key: f[0], owner: f[2], perms: f[3]}
		s.id, _ = strconv.Atoi(f[1])
		s.bytes, _ = strconv.Atoi(f[4])
		s.nattch, _ = strconv.Atoi(f[5])
		if len(f) > 6 {
			s.status = f[6]
		}
		segs = append(segs, s)
	}
	return segs
}

// shmStat is one line of build/tests/real_shmstat.
type shmStat struct {
	id, nattch, cpid, lpid int
	key                    uint32
	size                   uint64
	mode                   uint32
}

var shmStatRE = regexp.MustCompile(`^id=(\d+) key=(0x[0-9a-f]+|0) size=(\d+) nattch=(\d+) mode=(0[0-7]*) cpid=(-?\d+) lpid=(-?\d+)$`)

func parseShmStat(t *testing.T, out string) []shmStat {
	t.Helper()
	var st []shmStat
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		m := shmStatRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var s shmStat
		s.id, _ = strconv.Atoi(m[1])
		k, _ := strconv.ParseUint(m[2], 0, 32)
		s.key = uint32(k)
		s.size, _ = strconv.ParseUint(m[3], 10, 64)
		s.nattch, _ = strconv.Atoi(m[4])
		md, _ := strconv.ParseUint(m[5], 0, 32)
		s.mode = uint32(md)
		s.cpid, _ = strconv.Atoi(m[6])
		s.lpid, _ = strconv.Atoi(m[7])
		st = append(st, s)
	}
	return st
}

// goshmStat runs real_shmstat under goshm (args: "all", "id N", "key K").
func goshmStat(t *testing.T, enter []string, store string, args ...string) ([]shmStat, testenv.Result) {
	t.Helper()
	r := run(t, 30*time.Second, cat(enter, shimEnv(t, store),
		[]string{testenv.Artifact(t, "tests/real_shmstat")}, args)...)
	return parseShmStat(t, r.Stdout), r
}

// waitGone waits until pid no longer runs (gone or a zombie).
func waitGone(t *testing.T, pid int, timeout time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool { return !alive(pid) }, timeout,
		20*time.Millisecond, "process %d still runs", pid)
}

// alive: the process exists and is not a zombie.
func alive(pid int) bool {
	l := stateLetter(pid)
	return l != "" && l != "Z"
}

// stateLetter is the state of /proc/PID/stat ("R", "S", "T", "Z"...): ""
// when the process is gone, "?" when the line cannot be read.
func stateLetter(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return "?"
	}
	return s[i+2 : i+3]
}

// children lists the child processes of pid.
func children(t *testing.T, pid int) []int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		n, err := strconv.Atoi(f)
		if err == nil {
			out = append(out, n)
		}
	}
	return out
}
