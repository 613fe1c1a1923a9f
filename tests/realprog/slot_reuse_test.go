package realprog

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

const (
	reuseOldKey = 0x0c4a0700
	reuseNewKey = 0x0c4a0701
)

// TestLockFreeCallRacingSlotReuse: a lock-free shmdt or shmat in
// namespace A writes A's count of attaches into the segment's registry
// slot at a moment when its own attach does not hold the segment: the
// detach after it let go of its attach, the attach before it is counted.
// If the segment is destroyed and its slot given to a new segment in
// between, that write must not land on the new segment, whose count for
// the same namespace slot may be another namespace's:
//   - the detach wrote its count of 0 over it: a destroyer then removed
//     the new segment while it was attached (the chaos test met this
//     twice, as an IPC_STAT of an attached segment answering EINVAL,
//     under a load that descheduled the detaching process long enough);
//   - the attach added its one to it: IPC_STAT counted an attach too many.
//
// gdb makes the window certain: it stops the process in A at the write.
// Meanwhile the segment is removed and segments are made until one lands
// on the same slot, and a process of namespace B attaches that one.  Then
// the call goes on.  Afterwards B's attach must count once, from A as
// from B, and A's IPC_RMID must leave the segment to B.
func TestLockFreeCallRacingSlotReuse(t *testing.T) {
	cases := []struct {
		name    string
		victim  string   // slot_reuse's mode
		breaks  []string // gdb breakpoints in turn, each when the last is hit
		refillB bool     // the removal and refill from B (else from A)
		says    string   // what the victim says of its call
	}{
		// The detach stops at the presence segment's IPC_STAT, read for
		// the count it publishes.  Only A can remove the segment then:
		// from B, A's published count still says 1.
		{"shmdt", "cycle", []string{"gs_shmdt", "gs_sys_shmctl"}, false, ""},
		// The attach stops as it adds its one, after its presence
		// attach: B's destroyer does not see it yet, and removes the
		// segment; the attach then fails, as on a removed id.
		{"shmat", "reattach", []string{"gs_pub_add"}, true, "shmat: EINVAL"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			slotReuseRace(t, c.victim, c.breaks, c.refillB, c.says,
				reuseOldKey+2*i, reuseNewKey+2*i)
		})
	}
}

// stoppedCall is a slot_reuse process of an IPC namespace, under goshm,
// that gdb holds at a breakpoint until finish.
type stoppedCall struct {
	t        *testing.T
	out, gdb lockedBuffer // the process's output, gdb's
	resume   string
	done     chan struct{} // the process ended
	gdbDone  chan struct{}
	waitErr  error
	pid      int // the process's
}

// stopCall starts slot_reuse args in ns, with goshm, and returns once gdb
// holds it at the last of breaks (each set when the one before it is
// hit).  The process stops itself first and gdb attaches to it: started
// by gdb, a process with libgoshm-go.so's runtime stops at a signal gdb
// cannot name (and so cannot be told to pass) while the runtime starts
// its threads.
func stopCall(t *testing.T, ns *ipcNS, store string, breaks []string, args ...string) *stoppedCall {
	t.Helper()
	return stopProgram(t, ns, store, "tests/slot_reuse", "SLOT_REUSE_STOP", breaks, args...)
}

// stopProgram is stopCall for program prog (in build/), which stops itself
// when the environment variable stopVar is set.
func stopProgram(t *testing.T, ns *ipcNS, store, prog, stopVar string, breaks []string,
	args ...string) *stoppedCall {
	t.Helper()
	gdb, err := exec.LookPath("gdb")
	require.NoError(t, err, "this test needs gdb (scripts/test-deps.sh installs it)")
	dir := t.TempDir()
	stopped := filepath.Join(dir, "stopped")
	c := &stoppedCall{t: t, resume: filepath.Join(dir, "resume"), done: make(chan struct{}),
		gdbDone: make(chan struct{})}
	require.NoError(t, syscall.Mkfifo(c.resume, 0o600))

	argv := cat(ns.enter(), shimEnv(t, store), []string{stopVar + "=1", testenv.Artifact(t, prog)}, args)
	proc := exec.Command(argv[0], argv[1:]...)
	proc.Stdout, proc.Stderr = &c.out, &c.out
	require.NoError(t, proc.Start())
	go func() { c.waitErr = proc.Wait(); close(c.done) }()
	t.Cleanup(func() {
		_ = proc.Process.Kill()
		<-c.done
	})
	pid := proc.Process.Pid
	c.pid = pid
	require.Eventually(t, func() bool { return stateLetter(pid) == "T" }, time.Minute,
		10*time.Millisecond, "%s did not stop itself:\n%s", prog, &c.out)

	script := []string{
		// libgoshm-go.so's runtime signals its threads (preemption).
		"handle all nostop noprint pass",
		"break " + breaks[0],
		"continue",
	}
	for _, b := range breaks[1:] {
		script = append(script, "break "+b, "continue")
	}
	script = append(script,
		fmt.Sprintf("shell echo stopped > %s; read x < %s", stopped, c.resume),
		"delete",
		"continue")
	// gdb 13 sometimes aborts on an internal error as the process exits
	// (after the test's work is done): no core of it in the tree.
	gargv := []string{"prlimit", "--core=0", "--", gdb, "-q", "-nx", "-batch", "-p", strconv.Itoa(pid)}
	for _, line := range script {
		gargv = append(gargv, "-ex", line)
	}
	g := exec.Command(gargv[0], gargv[1:]...)
	g.Stdout, g.Stderr = &c.gdb, &c.gdb
	require.NoError(t, g.Start())
	go func() { _ = g.Wait(); close(c.gdbDone) }()
	t.Cleanup(func() {
		_ = g.Process.Kill()
		<-c.gdbDone
	})
	require.Eventually(t, func() bool {
		_, err := os.Stat(stopped)
		return err == nil
	}, time.Minute, 20*time.Millisecond, "gdb never stopped the call:\n%s\n%s", &c.gdb, &c.out)
	return c
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// id is the "id N" the process printed first.
func (c *stoppedCall) id() int {
	c.t.Helper()
	require.Eventually(c.t, func() bool { return strings.Contains(c.out.String(), "id ") },
		time.Minute, 10*time.Millisecond, "no id printed:\n%s", &c.out)
	return idIn(c.t, c.out.String())
}

// finish lets the call go on and returns what the process printed.
func (c *stoppedCall) finish() string {
	c.t.Helper()
	require.NoError(c.t, os.WriteFile(c.resume, []byte("go\n"), 0o600))
	select {
	case <-c.done:
		require.NoError(c.t, c.waitErr, "the process:\n%s\ngdb:\n%s", &c.out, &c.gdb)
	case <-time.After(time.Minute):
		c.t.Fatalf("the call did not end after gdb let it go:\n%s\ngdb:\n%s", &c.out, &c.gdb)
	}
	require.Contains(c.t, c.out.String(), "done", "the process did not finish:\n%s", &c.out)
	return c.out.String()
}

// statIn is IPC_STAT of key's segment from a process of ns that has not
// attached it: ctr_shmsh's "nattch N segsz N".
func statIn(t *testing.T, ns *ipcNS, store string, key int) string {
	t.Helper()
	r := testenv.Run(t, testenv.Opts{Stdin: "s\n", Timeout: time.Minute},
		cat(ns.enter(), shimEnv(t, store),
			[]string{testenv.Artifact(t, "tests/ctr_shmsh"), "-A", strconv.Itoa(key)})...)
	require.Equal(t, 0, r.Code, r.String())
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	return lines[len(lines)-1]
}

// attachedSurvivesRemoval: the segment of key, which holder (in another
// namespace than ns) has attached, counts that attach from ns and from
// the holder, and stays after ns's IPC_RMID.
func attachedSurvivesRemoval(t *testing.T, ns *ipcNS, store string, key int, holder *holder) {
	t.Helper()
	const one = "nattch 1 segsz 4096"
	assert.Equal(t, one, statIn(t, ns, store, key), "the holder's attach, seen from the stopped call's namespace")
	assert.Equal(t, one, holder.do("s"), "the holder's attach, seen by the holder")
	mustRun(t, time.Minute, cat(ns.enter(), shimEnv(t, store),
		[]string{testenv.Artifact(t, "tests/slot_reuse"), "rmid", strconv.Itoa(key)})...)
	assert.Equal(t, one, holder.do("s"), "after IPC_RMID, the holder's IPC_STAT of the segment it has attached")
	holder.quit()
}

func slotReuseRace(t *testing.T, victim string, breaks []string, refillB bool, says string,
	oldKey, newKey int) {
	testenv.RequireRoot(t)
	helper := testenv.Artifact(t, "tests/slot_reuse")
	shmsh := testenv.Artifact(t, "tests/ctr_shmsh")
	store := testenv.NewStore(t)
	nsA, nsB := newIPCNS(t), newIPCNS(t)

	call := stopCall(t, nsA, store, breaks, victim, strconv.Itoa(oldKey))
	oldID := call.id()

	// The segment is removed and its slot filled with a new one, which B
	// attaches and holds.
	refiller := nsA
	if refillB {
		refiller = nsB
	}
	r := mustRun(t, time.Minute, cat(refiller.enter(), shimEnv(t, store),
		[]string{helper, "refill", strconv.Itoa(oldID), strconv.Itoa(newKey)})...)
	newID := idIn(t, r.Stdout)
	require.Equal(t, oldID&0x7fff, newID&0x7fff, "the new segment is in the old one's slot")
	holder := openHolder(t, cat(nsB.enter(), shimEnv(t, store), []string{shmsh, strconv.Itoa(newKey)}))
	assert.Equal(t, "nattch 1 segsz 4096", holder.do("s"), "B's attach, seen from B")

	out := call.finish()
	if says != "" {
		assert.Contains(t, out, says, "the stopped call")
	}
	attachedSurvivesRemoval(t, nsA, store, newKey, holder)
}

// TestDetachRacingNamespaceSlotReuse: the same window for a namespace
// slot.  A process of namespace A that held an attach for long and then
// used many other segments no longer maps A's token once it detaches
// (its token is the least recently used of too many idle ones), so
// between its detach and its publish, another namespace B may find A
// gone, clear A's namespace slot, and a third namespace C claim it for
// its own attach.  The count the detach publishes must not land on C's.
func TestDetachRacingNamespaceSlotReuse(t *testing.T) {
	testenv.RequireRoot(t)
	store := testenv.NewStore(t)
	nsA, nsB, nsC := newIPCNS(t), newIPCNS(t), newIPCNS(t)
	key := reuseOldKey + 8

	call := stopCall(t, nsA, store, []string{"slot_reuse_before_last_detach", "gs_sys_shmctl"},
		"evict", strconv.Itoa(key))
	// B's IPC_STAT asks whether anybody in A still maps A's token: nobody
	// does, and A's namespace slot is cleared.
	assert.Equal(t, "nattch 0 segsz 4096", statIn(t, nsB, store, key), "A's attach is gone, seen from B")
	holder := openHolder(t, cat(nsC.enter(), shimEnv(t, store),
		[]string{testenv.Artifact(t, "tests/ctr_shmsh"), strconv.Itoa(key)}))
	call.finish()
	attachedSurvivesRemoval(t, nsB, store, key, holder)
}

func idIn(t *testing.T, out string) int {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "id" {
			id, err := strconv.Atoi(f[1])
			require.NoError(t, err)
			return id
		}
	}
	t.Fatalf("no \"id N\" line in:\n%s", out)
	return -1
}

// holder is a ctr_shmsh session: one command in, one line out.
type holder struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

func openHolder(t *testing.T, argv []string) *holder {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	h := &holder{t: t, cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	require.True(t, strings.HasPrefix(h.line(), "id "), "ctr_shmsh did not attach")
	return h
}

func (h *holder) line() string {
	h.t.Helper()
	l, err := h.out.ReadString('\n')
	require.NoError(h.t, err, "ctr_shmsh ended")
	return strings.TrimSpace(l)
}

func (h *holder) do(command string) string {
	h.t.Helper()
	_, err := io.WriteString(h.stdin, command+"\n")
	require.NoError(h.t, err)
	return h.line()
}

func (h *holder) quit() {
	h.t.Helper()
	require.NoError(h.t, h.stdin.Close())
	require.NoError(h.t, h.cmd.Wait(), "ctr_shmsh")
}
