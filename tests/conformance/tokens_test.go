package conformance

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// Token files and the namespaces they stand for (docs/FORMAT.md,
// "Counting attaches").

// poke drives build/tests/shmpoke, which makes one System V call per line
// of input and keeps its attaches between them.
type poke struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

// startPoke runs shmpoke under goshm with store, in a fresh IPC namespace.
func startPoke(t *testing.T, store string) *poke {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := testenv.Command(t, ctx, testenv.Opts{NewIPC: true, Preload: true, Store: store},
		testenv.Artifact(t, "tests/shmpoke"))
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &poke{cmd: cmd, in: in, out: bufio.NewReader(out)}
	t.Cleanup(func() {
		in.Close()
		_ = cmd.Wait()
		cancel()
	})
	require.Equal(t, "ready", p.ask(t, ""))
	return p
}

// ask sends a command (none if empty) and returns the answer line.
func (p *poke) ask(t *testing.T, cmd string) string {
	t.Helper()
	if cmd != "" {
		_, err := io.WriteString(p.in, cmd+"\n")
		require.NoError(t, err)
	}
	s, err := p.out.ReadString('\n')
	require.NoError(t, err, "shmpoke: %s", cmd)
	return strings.TrimSuffix(s, "\n")
}

// end ends shmpoke (its attaches go with it) and waits for it.
func (p *poke) end(t *testing.T) {
	t.Helper()
	require.NoError(t, p.in.Close())
	_ = p.cmd.Wait()
}

// pid is shmpoke's own pid (unshare and env exec it).
func (p *poke) pid() int { return p.cmd.Process.Pid }

// heldIPCNS is a fresh IPC namespace kept alive by a sleeping process;
// enter is the argv prefix that runs a program in it.
func heldIPCNS(t *testing.T) (enter []string) {
	t.Helper()
	cmd := exec.Command("unshare", "--ipc", "--", "sleep", "86400")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	self, err := os.Readlink("/proc/self/ns/ipc")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/ipc", cmd.Process.Pid))
		return err == nil && l != self
	}, 10*time.Second, 10*time.Millisecond, "the namespace holder did not start")
	return []string{"nsenter", "-t", strconv.Itoa(cmd.Process.Pid), "--ipc", "--"}
}

// inNS runs argv under goshm with store in the namespace enter leads to.
func inNS(t *testing.T, enter []string, store string, argv ...string) testenv.Result {
	t.Helper()
	args := append(append(append([]string{}, enter...), "env", "LD_PRELOAD="+testenv.Lib(t), "GOSHM_DIR="+store), argv...)
	return testenv.Run(t, testenv.Opts{}, args...)
}

// Issue 14, defect 7: a store deleted and made again while a process
// still has an attach of the old one.  P1 and P2 (each in an IPC
// namespace of its own) attach id 0 (generation 1) and keep it; the store
// is removed and made again by Y, in another namespace, whose new
// segment is id 0 and generation 1 again, and Y keeps it attached.  The
// old attaches are not the new segment's: their detaches must not count
// on it -- no change to its nattch, shm_lpid or shm_dtime -- and must not
// destroy it once Y has removed it.
func TestRecreatedStoreIgnoresOldAttaches(t *testing.T) {
	testenv.RequireRoot(t)
	store := newStore(t)
	p1, p2 := startPoke(t, store), startPoke(t, store)
	require.Equal(t, "0", p1.ask(t, "get 0x7000 4096 01666"))
	require.Equal(t, "ok", p1.ask(t, "at 0"))
	require.Equal(t, "0", p2.ask(t, "get 0x7000 4096 0"))
	require.Equal(t, "ok", p2.ask(t, "at 0"))

	require.NoError(t, os.RemoveAll(store))
	require.NoError(t, os.Mkdir(store, 0o1777))
	require.NoError(t, os.Chmod(store, 0o1777))
	y := startPoke(t, store)
	require.Equal(t, "0", y.ask(t, "get 0x7001 4096 01666"), "the new store's first segment is id 0 again")
	require.Equal(t, "ok", y.ask(t, "at 0"))
	mine := fmt.Sprintf("nattch=1 lpid=%d dtime=0 mode=0666", y.pid())
	require.Equal(t, mine, y.ask(t, "stat 0"))

	assert.Equal(t, "ok", p1.ask(t, "dt"), "P1 detaches its attach of the old store")
	assert.Equal(t, mine, y.ask(t, "stat 0"), "P1's detach is not one of the new segment's")

	require.Equal(t, "ok", y.ask(t, "rm 0"))
	removed := fmt.Sprintf("nattch=1 lpid=%d dtime=0 mode=01666", y.pid())
	assert.Equal(t, removed, y.ask(t, "stat 0"), "removed while Y has it attached")
	assert.Equal(t, "ok", p2.ask(t, "dt"), "P2 detaches its attach of the old store")
	assert.Equal(t, removed, y.ask(t, "stat 0"), "P2's detach neither counts nor destroys it")

	require.Equal(t, "ok", y.ask(t, "dt"))
	assert.Equal(t, "ERR 22", y.ask(t, "stat 0"), "destroyed at Y's detach (EINVAL)")
	assert.Empty(t, segmentFiles(t, store), "nothing left of it in the store")
}

// Issue 14, defect 8: a deleted token file made a segment unattachable
// for good.  A namespace attaches and detaches a segment, and its token
// file (segments/seg-<gen>.ns*) is deleted: its next attach -- by the same
// process, or another of the namespace -- failed with EIO forever, and
// goshm gc found nothing to do.  The attach must succeed; and after goshm
// gc too.  (Deleting the token of a namespace that still has the segment
// attached is another case: see TestDamagedStore.)
func TestDeletedTokenFileOfADetachedNamespace(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/conf_store_ops")

	t.Run("attach again", func(t *testing.T) {
		store := newStore(t)
		r := storeOps(t, store, nil, "create", "0x1408", "4096", "attach", "$", "write", "detach",
			"unlink-tokens", "attach", "$", "detach", "exec", "find", "0x1408", "attach", "$", "detach")
		require.Equal(t, 0, r.Code, r.String())
		got := values(r.Stdout)
		assert.Equal(t, []string{"0", "0", "0", "0", "1", "0", "0", "0", "0", "0", "0"}, got,
			"create, attach, write, detach, unlink-tokens (1 file), attach, detach, "+
				"then a new process of the namespace: find, attach, detach; exec's status\n%s", r)
		assert.Empty(t, r.Stderr)
	})

	t.Run("after goshm gc", func(t *testing.T) {
		store := newStore(t)
		ns := heldIPCNS(t)
		r := inNS(t, ns, store, prog, "create", "0x1409", "4096", "attach", "$", "detach", "unlink-tokens")
		require.Equal(t, 0, r.Code, r.String())
		require.Equal(t, "1", opResults(r.Stdout)["unlink-tokens"], r.String())
		gc := testenv.Run(t, testenv.Opts{Store: store}, append(append([]string{}, ns...), testenv.Artifact(t, "goshm"), "gc")...)
		require.Equal(t, 0, gc.Code, gc.String())
		r = inNS(t, ns, store, prog, "find", "0x1409", "attach", "$", "detach")
		require.Equal(t, 0, r.Code, r.String())
		assert.Equal(t, []string{"0", "0", "0"}, values(r.Stdout), "find, attach, detach after gc\n%s", r)
		assert.Empty(t, r.Stderr)
	})
}

// Issue 14, defect 9: no inode left for a namespace's token file.  The
// store is on a tmpfs with few inodes, all of them taken; a namespace's
// first attach needs a token file.  shmat must fail with ENOMEM -- the
// kernel's shmat never gives ENOSPC -- with one line on stderr.
func TestNoInodeForATokenFile(t *testing.T) {
	testenv.RequireRoot(t)
	setup := `env LD_PRELOAD="$LIB" "$1" create 0x1234 4096 >/dev/null && ` +
		`i=0 && while touch "$D/fill$i" 2>/dev/null; do i=$((i+1)); done && [ "$i" -gt 0 ]`
	r, store := onTmpfs(t, "4m,nr_inodes=32", setup, nil, "find", "0x1234", "attach", "$", "stat", "$")
	require.Equal(t, 0, r.Code, r.String())
	got := opResults(r.Stdout)
	assert.Regexp(t, `^\d+$`, got["find 0x1234"], r.String())
	assert.Equal(t, "-1 ENOMEM", got["attach $"], "shmat: ENOMEM, never ENOSPC\n%s", r)
	assert.Equal(t, "0 nattch 0", got["stat $"], r.String())
	assertOneDiagnostic(t, r, store)
}

// ipcsCount is the number of segments `ipcs -m` lists in the namespace
// enter leads to.
func ipcsCount(t *testing.T, enter []string) int {
	t.Helper()
	r := testenv.Run(t, testenv.Opts{}, append(append([]string{}, enter...), "ipcs", "-m")...)
	require.Equal(t, 0, r.Code, r.String())
	n := 0
	for _, line := range strings.Split(r.Stdout, "\n") {
		if strings.HasPrefix(line, "0x") {
			n++
		}
	}
	return n
}

// Issue 14, defect 10 (two namespaces with kills leak one-byte presence
// segments), step by step.  A process of namespace A makes the presence
// segment of A's first attach and is killed before it marks it IPC_RMID
// (strace injects the SIGKILL at that call, or at its shmat before): the
// one-byte segment stays in A, recorded in A's namespace slot so that the
// next call made in A removes it.  But a call made in namespace B found
// A's token unmapped and cleared A's slot, record and all: nothing could
// find the segment any more, and it stayed in A for good.  After B's calls
// (the last one removes the segment, and with it B's own presence segment,
// which lives as long as the goshm segment) and goshm gc in A and in B,
// neither lists a segment.
func TestPresenceLeftByAKillIsNotForgotten(t *testing.T) {
	testenv.RequireRoot(t)
	_, err := exec.LookPath("strace")
	require.NoError(t, err, "strace (installed by .ci/run)")
	prog := testenv.Artifact(t, "tests/conf_store_ops")
	for _, call := range []string{"shmat", "shmctl"} {
		t.Run("killed at its "+call, func(t *testing.T) {
			store := newStore(t)
			r := storeOps(t, store, nil, "create", "0x1411", "4096")
			require.Equal(t, 0, r.Code, r.String())
			id := opResults(r.Stdout)["create 0x1411"]
			require.Regexp(t, `^\d+$`, id, r.String())
			a, b := heldIPCNS(t), heldIPCNS(t)

			// The first shmat and shmctl system calls of an attach are the
			// presence segment's (the data file is mapped with mmap).
			kill := append(append([]string{}, a...), "strace", "-f", "-qq", "-o", "/dev/null",
				"-e", "trace="+call, "-e", "inject="+call+":signal=KILL:when=1",
				"env", "LD_PRELOAD="+testenv.Lib(t), "GOSHM_DIR="+store, prog, "attach", id)
			r = testenv.Run(t, testenv.Opts{}, kill...)
			// strace ends by the signal that ended its tracee.
			require.Error(t, r.Err, "the attach is killed\n%s", r)
			require.Contains(t, r.Err.Error(), "signal: killed", "the attach is killed\n%s", r)
			require.Equal(t, 1, ipcsCount(t, a), "the killed attach left its presence segment in A")

			r = inNS(t, b, store, prog, "stat", id, "attach", id, "detach", "rm", id)
			require.Equal(t, 0, r.Code, r.String())
			assert.Equal(t, []string{"0 nattch 0", "0", "0", "0"}, values(r.Stdout), r.String())
			for _, ns := range [][]string{a, b} {
				gc := testenv.Run(t, testenv.Opts{Store: store}, append(append([]string{}, ns...), testenv.Artifact(t, "goshm"), "gc")...)
				require.Equal(t, 0, gc.Code, gc.String())
			}
			assert.Equal(t, 0, ipcsCount(t, a), "segments left in namespace A")
			assert.Equal(t, 0, ipcsCount(t, b), "segments left in namespace B")
		})
	}
}

// The read-lease probe that tells whether anybody maps another
// namespace's token file is broken by anybody who opens the file for
// writing meanwhile, and the kernel then signals the prober: SIGIO by
// default, whose default action would end the program asking.  The
// probes ask for SIGURG, which is ignored by default.  Here namespace A
// attached a segment and ended without detaching (its count stays
// published); B's IPC_STAT probes A's token, and strace holds the probe's
// lease for a second (it delays the return of the third fcntl, after the
// registry's lock and F_SETSIG) while another process opens the token for
// writing.  The program in B lives, and answers nattch 0.
func TestTokenProbeBrokenByAnOpenDoesNotKill(t *testing.T) {
	testenv.RequireRoot(t)
	_, err := exec.LookPath("strace")
	require.NoError(t, err, "strace (installed by make test)")
	prog := testenv.Artifact(t, "tests/conf_store_ops")
	store := newStore(t)
	r := storeOps(t, store, nil, "create", "0x1412", "4096")
	require.Equal(t, 0, r.Code, r.String())
	id := opResults(r.Stdout)["create 0x1412"]
	require.Regexp(t, `^\d+$`, id, r.String())
	a := heldIPCNS(t)
	r = inNS(t, a, store, prog, "attach", id)
	require.Equal(t, 0, r.Code, r.String())
	tokens, err := filepath.Glob(filepath.Join(store, "segments", "seg-*.ns*"))
	require.NoError(t, err)
	require.Len(t, tokens, 1, "namespace A's token file")

	b := heldIPCNS(t)
	stat := exec.Command(b[0], append(append([]string{}, b[1:]...), "strace", "-f", "-qq", "-o", "/dev/null",
		"-e", "trace=fcntl", "-e", "inject=fcntl:delay_exit=1000000:when=3",
		"env", "LD_PRELOAD="+testenv.Lib(t), "GOSHM_DIR="+store, prog, "stat", id)...)
	var out strings.Builder
	stat.Stdout = &out
	stat.Stderr = &out
	require.NoError(t, stat.Start())
	time.Sleep(400 * time.Millisecond) // inside the delayed F_SETLEASE
	f, err := os.OpenFile(tokens[0], os.O_WRONLY|syscall.O_NONBLOCK, 0)
	if err == nil {
		f.Close()
	} else {
		require.ErrorIs(t, err, syscall.EWOULDBLOCK, "opening the token breaks the lease")
	}
	err = stat.Wait()
	require.NoError(t, err, "the program asking must survive a broken lease probe\n%s", out.String())
	assert.Equal(t, "stat "+id+" = 0 nattch 0\n", out.String())
}
