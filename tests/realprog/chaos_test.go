package realprog

import (
	"bufio"
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"sort"
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

// Chaos test settings.  make test runs it for 90 s; a longer run:
// GOSHM_CHAOS_SECONDS=1800 go test -run Chaos ./tests/realprog/.
const (
	chaosSecondsDefault = 90
	chaosNamespaces     = 2 // GOSHM_CHAOS_NAMESPACES
	chaosProcs          = 3 // workers per namespace, GOSHM_CHAOS_PROCS
	chaosThreads        = 3 // threads per worker
	chaosHold           = 3 // attaches per namespace at quiescence
)

// chaosProc is one running chaos_worker.
type chaosProc struct {
	cmd    *exec.Cmd
	ns     int
	ready  chan struct{} // closed at its first line
	done   chan struct{}
	killed bool // by the test, with SIGKILL
	mu     sync.Mutex
	out    []string // lines other than "H PID"
	errOut strings.Builder
}

func (p *chaosProc) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errOut.String()
}

func (p *chaosProc) lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.out...)
}

// Issue 14, defect 10, and the acceptance "chaos run": threads,
// forks and SIGKILL in two IPC namespaces sharing one store.  Workers in
// each namespace -- several threads each doing shmget, shmat, writes,
// shmdt, IPC_STAT, IPC_RMID and fork on four keys -- are killed with
// SIGKILL at random moments and started again; a checker in each
// namespace keeps attaching the segments and checks that IPC_STAT never
// counts fewer attaches than it holds itself.  Killed processes leaked
// one-byte presence segments in the kernel.  Then:
//   - no crash and no hang: every worker ended by the test's SIGKILL, the
//     checkers exit 0 on SIGTERM, nobody reported the unexpected;
//   - at quiescence the count is exact: 3 attaches held in each
//     namespace, and IPC_STAT says 3 x namespaces, from each of them;
//   - once every segment is removed and goshm gc has run in each
//     namespace, segments/ is empty and `ipcs -m` lists nothing, in any
//     namespace.
func TestChaosNamespacesKillsForksThreads(t *testing.T) {
	testenv.RequireRoot(t)
	seconds := envInt(t, "GOSHM_CHAOS_SECONDS", chaosSecondsDefault)
	nsCount := envInt(t, "GOSHM_CHAOS_NAMESPACES", chaosNamespaces)
	procs := envInt(t, "GOSHM_CHAOS_PROCS", chaosProcs)
	worker := testenv.Artifact(t, "tests/chaos_worker")
	goshmBin := testenv.Artifact(t, "goshm")
	store := testenv.NewStore(t)
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	t.Logf("chaos: %d namespaces x %d workers x %d threads for %d s "+
		"(GOSHM_CHAOS_NAMESPACES, GOSHM_CHAOS_PROCS, GOSHM_CHAOS_SECONDS)", nsCount, procs, chaosThreads, seconds)

	nss := make([]*ipcNS, nsCount)
	for i := range nss {
		nss[i] = newIPCNS(t)
	}

	var all []*chaosProc
	var allMu sync.Mutex
	t.Cleanup(func() {
		// Everything a worker forked is in its process group.
		allMu.Lock()
		defer allMu.Unlock()
		for _, p := range all {
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
	start := func(ns int, stdin bool, args ...string) (*chaosProc, chan<- struct{}) {
		argv := cat(nss[ns].enter(), shimEnv(t, store), append([]string{worker}, args...))
		p := &chaosProc{cmd: testenv.Command(t, context.Background(), testenv.Opts{}, argv...), ns: ns,
			ready: make(chan struct{}), done: make(chan struct{})}
		p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		var release chan struct{}
		if stdin {
			in, err := p.cmd.StdinPipe()
			require.NoError(t, err)
			release = make(chan struct{})
			go func() { <-release; in.Close() }()
		}
		// Its children write to the same pipes and may outlive it: the
		// pipes are read to their end, but the process is done when it
		// has exited.
		r, w, err := os.Pipe()
		require.NoError(t, err)
		er, ew, err := os.Pipe()
		require.NoError(t, err)
		p.cmd.Stdout, p.cmd.Stderr = w, ew
		require.NoError(t, p.cmd.Start())
		w.Close()
		ew.Close()
		allMu.Lock()
		all = append(all, p)
		allMu.Unlock()
		go func() {
			defer r.Close()
			sc := bufio.NewScanner(r)
			for first := true; sc.Scan(); first = false {
				if !strings.HasPrefix(sc.Text(), "H ") {
					p.mu.Lock()
					p.out = append(p.out, sc.Text())
					p.mu.Unlock()
				}
				if first {
					close(p.ready)
				}
			}
		}()
		go func() {
			defer er.Close()
			b := make([]byte, 4096)
			for {
				n, err := er.Read(b)
				p.mu.Lock()
				p.errOut.Write(b[:n])
				p.mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
		go func() {
			_ = p.cmd.Wait()
			close(p.done)
		}()
		return p, release
	}
	spawn := func(ns int) *chaosProc {
		p, _ := start(ns, false, "work", strconv.FormatInt(rng.Int63(), 10), strconv.Itoa(chaosThreads))
		return p
	}
	// waitFor waits for a process to end; a process that does not is hung.
	waitFor := func(p *chaosProc, what string) bool {
		select {
		case <-p.done:
			return true
		case <-time.After(time.Minute):
			t.Errorf("%s %d did not end within a minute: hung\n%s", what, p.cmd.Process.Pid,
				procState(p.cmd.Process.Pid))
			return false
		}
	}

	var checkers []*chaosProc
	for ns := range nss {
		c, _ := start(ns, false, "check", "2")
		checkers = append(checkers, c)
	}
	live := make([]*chaosProc, 0, nsCount*procs)
	for ns := range nss {
		for i := 0; i < procs; i++ {
			live = append(live, spawn(ns))
		}
	}

	kills := 0
	var ended []*chaosProc
	for deadline := time.Now().Add(time.Duration(seconds) * time.Second); time.Now().Before(deadline); {
		time.Sleep(time.Duration(50+rng.Intn(250)) * time.Millisecond)
		i := rng.Intn(len(live))
		p := live[i]
		select {
		case <-p.done: // ended by itself: a crash
		default:
			p.killed = true
			require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
			kills++
		}
		waitFor(p, "a killed worker")
		ended = append(ended, p)
		live[i] = spawn(p.ns)
	}

	// Stop everything: the workers by SIGKILL (and whatever they forked),
	// the checkers by SIGTERM.
	for _, p := range live {
		select {
		case <-p.done:
		default:
			p.killed = true
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		}
		waitFor(p, "a worker")
		ended = append(ended, p)
	}
	// What the workers forked ends by itself, at once: a child still
	// there after a minute is hung (it is killed then).
	groups := map[int]bool{}
	for _, p := range ended {
		groups[p.cmd.Process.Pid] = true
	}
	var stuck []int
	for wait := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		stuck = inGroups(groups)
		if len(stuck) == 0 || time.Now().After(wait) {
			break
		}
	}
	if !assert.Empty(t, stuck[:min(len(stuck), 20)], "processes forked by the workers, hung for a minute (%d)", len(stuck)) {
		for _, pid := range stuck[:min(len(stuck), 3)] {
			t.Logf("%s", procState(pid))
		}
	}
	for pg := range groups {
		_ = syscall.Kill(-pg, syscall.SIGKILL)
	}
	for _, c := range checkers {
		require.NoError(t, c.cmd.Process.Signal(syscall.SIGTERM))
	}
	for _, c := range checkers {
		if waitFor(c, "a checker") {
			assert.Equal(t, 0, c.cmd.ProcessState.ExitCode(), "checker in namespace %d: %s", c.ns, c.stderr())
		}
		assert.Empty(t, c.lines(), "checker in namespace %d reported", c.ns)
		assert.Empty(t, c.stderr(), "checker in namespace %d wrote on stderr", c.ns)
	}
	var crashed, reports []string
	for _, p := range ended {
		if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !p.killed || !ok ||
			!(ws.Signaled() && ws.Signal() == syscall.SIGKILL) {
			crashed = append(crashed, fmt.Sprintf("worker %d (namespace %d): %v %s", p.cmd.Process.Pid, p.ns,
				p.cmd.ProcessState, p.stderr()))
		}
		for _, l := range p.lines() {
			reports = append(reports, fmt.Sprintf("ns %d: %s", p.ns, l))
		}
		if p.stderr() != "" {
			reports = append(reports, fmt.Sprintf("ns %d, stderr: %s", p.ns, p.stderr()))
		}
	}
	t.Logf("%d workers started, %d killed at random", len(ended), kills)
	assert.Empty(t, crashed, "workers that ended other than by the test's SIGKILL")
	if len(reports) > 20 {
		reports = append(reports[:20], fmt.Sprintf("... %d more", len(reports)-20))
	}
	assert.Empty(t, reports, "what the workers saw that the kernel would not do")

	// Quiescence: each namespace holds every segment chaosHold times.
	var holders []chan<- struct{}
	var holdProcs []*chaosProc
	held := -1
	for ns := range nss {
		h, release := start(ns, true, "hold", strconv.Itoa(chaosHold))
		holders = append(holders, release)
		holdProcs = append(holdProcs, h)
		select {
		case <-h.ready:
		case <-time.After(time.Minute):
			t.Fatalf("the holder in namespace %d did not attach within a minute: hung", ns)
		}
		l := h.lines()
		require.Len(t, l, 1, "holder in namespace %d", ns)
		n, err := strconv.Atoi(strings.TrimPrefix(l[0], "held "))
		require.NoError(t, err, l[0])
		if held >= 0 {
			require.Equal(t, held, n, "both namespaces see the same segments")
		}
		held = n
	}
	for ns := range nss {
		r := run(t, time.Minute, cat(nss[ns].enter(), shimEnv(t, store), []string{worker, "stat"})...)
		require.Equal(t, 0, r.Code, r.String())
		want := fmt.Sprintf(" nattch %d", chaosHold*nsCount)
		for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
			if !strings.HasSuffix(line, " none") {
				assert.True(t, strings.HasSuffix(line, want),
					"namespace %d, key %s: %d attaches held in each of %d namespaces", ns, line, chaosHold, nsCount)
			}
		}
	}
	for i, release := range holders {
		close(release)
		if waitFor(holdProcs[i], "a holder") {
			assert.Equal(t, 0, holdProcs[i].cmd.ProcessState.ExitCode(), holdProcs[i].stderr())
		}
		assert.Len(t, holdProcs[i].lines(), 1, "the holder reported")
	}

	// Remove every segment, run gc in each namespace: nothing is left,
	// in the store or in the kernel.
	r := run(t, time.Minute, cat(nss[0].enter(), shimEnv(t, store),
		[]string{testenv.Artifact(t, "tests/soak_check"), "remove-all"})...)
	require.Equal(t, 0, r.Code, r.String())
	assert.Equal(t, "used=0", strings.TrimSpace(r.Stdout))
	for ns := range nss {
		r := run(t, time.Minute, cat(nss[ns].enter(), []string{"env", "GOSHM_DIR=" + store, goshmBin, "gc"})...)
		assert.Equal(t, 0, r.Code, "goshm gc in namespace %d\n%s", ns, r)
	}
	data, other := storeFiles(t, store)
	assert.Empty(t, data, "data files left")
	assert.Empty(t, other, "other files left in segments/")
	for ns := range nss {
		assert.Empty(t, ipcs(t, nss[ns].enter()), "kernel segments left in namespace %d", ns)
	}
}

// inGroups lists the live processes whose process group is one of groups:
// the groups of workers that have ended and been waited for.  A group whose
// leader's pid belongs to a live process is another program's: the kernel
// reuses a pid only once no process has it as its pid or its group, so the
// worker's own group had emptied before that pid was given again (a test
// run beside other programs met one: a shell of theirs, in a group of its
// own, with a pid the chaos had used).
func inGroups(groups map[int]bool) []int {
	members := map[int][]int{} // group -> its live processes
	alive := map[int]bool{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		alive[pid] = true
		// pid (comm) state ppid pgrp ...
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) < 3 || f[0] == "Z" {
			continue
		}
		if pg, err := strconv.Atoi(f[2]); err == nil && groups[pg] {
			members[pg] = append(members[pg], pid)
		}
	}
	var pids []int
	for pg, in := range members {
		if !alive[pg] {
			pids = append(pids, in...)
		}
	}
	sort.Ints(pids)
	return pids
}

// procState says where a process and its threads are, for a hang.
func procState(pid int) string {
	var b strings.Builder
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		dir := fmt.Sprintf("/proc/%d/task/%s/", pid, task.Name())
		st, _ := os.ReadFile(dir + "stat")
		wchan, _ := os.ReadFile(dir + "wchan")
		stack, _ := os.ReadFile(dir + "stack")
		fmt.Fprintf(&b, "task %s: %s wchan=%s\n%s", task.Name(), strings.TrimSpace(string(st)), wchan, stack)
	}
	return b.String()
}
