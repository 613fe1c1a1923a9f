package realprog

import (
	"bufio"
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"slices"
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

// Soak test settings.  make test runs it for 20 s with 16 workers; a
// longer run: GOSHM_SOAK_SECONDS=600 GOSHM_SOAK_PROCS=32 go test -run Soak
// ./tests/realprog/ (docs/TESTED-PROGRAMS.md).
const (
	soakSecondsDefault = 20
	soakProcsDefault   = 16
	soakSegSize        = 1024*1024 + 100 // SOAK_SEGSZ of tests/cprogs/soak_layout.h
	soakKey0           = 0x50a40000
	soakKeys           = 8
)

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, "%s=%q", name, v)
	require.Positive(t, n, "%s", name)
	return n
}

// record is one write a worker reported as complete.
type record struct {
	pid int
	seq uint32
}

// soakModel is what the workers said they did.
type soakModel struct {
	mu      sync.Mutex
	writes  map[int]map[uint32]record // shmid -> slot -> record
	keyOf   map[int]int               // shmid -> key index
	removed map[int]bool              // shmids someone set out to IPC_RMID
	errs    []string
	finals  []string
	lines   int
}

func newSoakModel() *soakModel {
	return &soakModel{writes: map[int]map[uint32]record{}, keyOf: map[int]int{},
		removed: map[int]bool{}}
}

func (m *soakModel) feed(line string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lines++
	f := strings.Fields(line)
	bad := func() { m.errs = append(m.errs, "unreadable line: "+line) }
	if len(f) == 0 {
		bad()
		return
	}
	num := func(i int) int {
		if i >= len(f) {
			return -1
		}
		n, err := strconv.Atoi(f[i])
		if err != nil {
			return -1
		}
		return n
	}
	switch f[0] {
	case "G":
		id, k := num(1), num(2)
		if id < 0 || k < 0 {
			bad()
			return
		}
		if old, ok := m.keyOf[id]; ok && old != k {
			m.errs = append(m.errs, fmt.Sprintf("shmid %d was given for key %d and %d", id, old, k))
		}
		m.keyOf[id] = k
	case "W":
		id, slot, pid, seq := num(1), num(2), num(3), num(4)
		if id < 0 || slot < 0 || pid < 0 || seq < 0 {
			bad()
			return
		}
		if m.writes[id] == nil {
			m.writes[id] = map[uint32]record{}
		}
		if old, ok := m.writes[id][uint32(slot)]; ok {
			m.errs = append(m.errs, fmt.Sprintf("slot %d of %d written twice: %v and %s", slot, id, old, line))
		}
		m.writes[id][uint32(slot)] = record{pid, uint32(seq)}
	case "r":
		m.removed[num(1)] = true
	case "R", "H":
	case "F":
		m.finals = append(m.finals, line)
	case "E":
		m.errs = append(m.errs, line)
	default:
		bad()
	}
}

// soakWorker is one running soak_worker.
type soakWorker struct {
	cmd    *exec.Cmd
	ready  chan struct{} // closed at its first line: it handles SIGTERM
	done   chan struct{}
	stderr strings.Builder
}

// TestSoakKillsAgainstModel: processes do random shmget, shmat, writes,
// reads, shmdt, IPC_STAT, IPC_RMID and fork on 8 keys while the test kills
// them with SIGKILL at random and starts new ones.  Then:
//   - every write a worker reported is in its segment, unless someone set
//     out to remove that segment;
//   - every segment has nattch 0, from the workers' namespace and from a
//     fresh one;
//   - the survivors (stopped with SIGTERM) detached everything and hold no
//     descriptor and no mapping they did not hold at start;
//   - removing every segment leaves the store's segments/ empty.
func TestSoakKillsAgainstModel(t *testing.T) {
	testenv.RequireRoot(t)
	seconds := envInt(t, "GOSHM_SOAK_SECONDS", soakSecondsDefault)
	procs := envInt(t, "GOSHM_SOAK_PROCS", soakProcsDefault)
	worker := testenv.Artifact(t, "tests/soak_worker")
	check := testenv.Artifact(t, "tests/soak_check")
	store := testenv.NewStore(t)
	ns := newIPCNS(t)
	model := newSoakModel()
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	t.Logf("soak: %d workers for %d s (GOSHM_SOAK_PROCS, GOSHM_SOAK_SECONDS)", procs, seconds)

	spawn := func() *soakWorker {
		argv := cat(ns.enter(), shimEnv(t, store), []string{worker, strconv.FormatInt(rng.Int63(), 10)})
		// The test's own environment, without goshm's variables: nsenter
		// must not run under the shim, only the worker (shimEnv).
		w := &soakWorker{cmd: testenv.Command(t, context.Background(), testenv.Opts{}, argv...),
			ready: make(chan struct{}), done: make(chan struct{})}
		w.cmd.Stderr = &w.stderr
		out, err := w.cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, w.cmd.Start())
		go func() {
			// Read to the end (forked children write here too), then reap.
			sc := bufio.NewScanner(out)
			for first := true; sc.Scan(); first = false {
				if first {
					close(w.ready)
				}
				model.feed(sc.Text())
			}
			_ = w.cmd.Wait()
			close(w.done)
		}()
		return w
	}
	live := make([]*soakWorker, 0, procs)
	var ended []*soakWorker
	t.Cleanup(func() {
		for _, w := range live {
			_ = w.cmd.Process.Kill()
			<-w.done
		}
	})
	for i := 0; i < procs; i++ {
		live = append(live, spawn())
	}

	kills := 0
	deadline := time.Now().Add(time.Duration(seconds) * time.Second)
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(20+rng.Intn(100)) * time.Millisecond)
		for n := 1 + rng.Intn(3); n > 0; n-- {
			i := rng.Intn(len(live))
			w := live[i]
			require.NoError(t, w.cmd.Process.Signal(syscall.SIGKILL))
			<-w.done
			ended = append(ended, w)
			live[i] = spawn()
			kills++
		}
	}

	// The survivors end cleanly.
	for _, w := range live {
		select {
		case <-w.ready:
		case <-w.done:
		case <-time.After(time.Minute):
			t.Fatalf("worker %d did not start", w.cmd.Process.Pid)
		}
		require.NoError(t, w.cmd.Process.Signal(syscall.SIGTERM))
	}
	for _, w := range live {
		select {
		case <-w.done:
		case <-time.After(time.Minute):
			t.Fatalf("worker %d did not stop", w.cmd.Process.Pid)
		}
		assert.Equal(t, 0, w.cmd.ProcessState.ExitCode(), "worker %d: %s", w.cmd.Process.Pid, w.stderr.String())
	}
	for _, w := range ended {
		ws := w.cmd.ProcessState.Sys().(syscall.WaitStatus)
		assert.True(t, ws.Signaled() && ws.Signal() == syscall.SIGKILL,
			"worker %d ended by itself before it was killed: %v", w.cmd.Process.Pid, w.cmd.ProcessState)
	}
	for _, w := range append(ended, live...) {
		assert.Empty(t, w.stderr.String(), "worker %d wrote on stderr", w.cmd.Process.Pid)
	}
	survivors := live
	live = nil

	model.mu.Lock()
	defer model.mu.Unlock()
	assert.Empty(t, model.errs, "the workers saw what the kernel would not do")
	require.Len(t, model.finals, len(survivors))
	for _, f := range model.finals {
		var newFds, data, tokens, presence int
		_, err := fmt.Sscanf(f, "F newfds=%d data=%d tokens=%d presence=%d",
			&newFds, &data, &tokens, &presence)
		require.NoError(t, err, f)
		assert.Zero(t, newFds, "a survivor holds descriptors it did not hold at start: %s", f)
		assert.Zero(t, data+presence, "a survivor kept mappings after detaching all: %s", f)
		// The engine keeps the tokens of segments a process detached,
		// up to 64 of them (capi/engine/attach_table.c).
		assert.LessOrEqual(t, tokens, 64, "a survivor kept more tokens than the engine's cache: %s", f)
	}

	// Every process is gone: what does the store hold?
	list := func(enter []string) (segs map[int]string, recs map[int]map[uint32]record, raw string) {
		r := run(t, time.Minute, cat(enter, shimEnv(t, store), []string{check, "list"})...)
		require.Equal(t, 0, r.Code, r.String())
		require.Empty(t, r.Stderr)
		segs, recs = map[int]string{}, map[int]map[uint32]record{}
		for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
			f := strings.Fields(line)
			switch {
			case len(f) == 6 && f[0] == "S":
				id, _ := strconv.Atoi(f[1])
				segs[id] = strings.Join(f[2:], " ")
			case len(f) == 5 && f[0] == "w":
				id, _ := strconv.Atoi(f[1])
				slot, _ := strconv.Atoi(f[2])
				pid, _ := strconv.Atoi(f[3])
				seq, _ := strconv.Atoi(f[4])
				if recs[id] == nil {
					recs[id] = map[uint32]record{}
				}
				recs[id][uint32(slot)] = record{pid, uint32(seq)}
			case len(f) >= 1 && f[0] == "bad":
				t.Errorf("damaged record: %s", line)
			}
		}
		return segs, recs, r.Stdout
	}
	segs, recs, raw := list(ns.enter())
	fresh, _, _ := list([]string{"unshare", "--ipc", "--"})
	assert.Equal(t, segs, fresh, "a fresh namespace sees other segments")

	keysSeen := map[string]int{}
	for id, s := range segs {
		var key, nattch, size int
		var mode string
		_, err := fmt.Sscanf(s, "%v %d %d %s", &key, &nattch, &size, &mode)
		require.NoError(t, err, s)
		assert.Zero(t, nattch, "segment %d: nattch once every process is gone (%s)", id, s)
		assert.Equal(t, soakSegSize, size, "segment %d", id)
		assert.Equal(t, "0600", mode, "segment %d: not removed, not locked", id)
		k, known := model.keyOf[id]
		if assert.True(t, known, "segment %d: no worker ever got this id", id) {
			assert.Equal(t, soakKey0+k, key, "segment %d", id)
		}
		keysSeen[fmt.Sprint(key)]++
	}
	for key, n := range keysSeen {
		assert.Equal(t, 1, n, "key %s has %d segments", key, n)
	}

	lost, checked := 0, 0
	lostIn := map[int][]uint32{}
	defer func() {
		for id, slots := range lostIn {
			t.Logf("segment %d lost %d reported writes, slots %d..%d; %s", id, len(slots),
				slices.Min(slots), slices.Max(slots), firstLines(raw, fmt.Sprintf("n %d ", id)))
		}
	}()
	for id, slots := range model.writes {
		if _, ok := segs[id]; !ok {
			if !model.removed[id] {
				t.Errorf("segment %d is gone, with %d reported writes, and nobody removed it", id, len(slots))
			}
			continue
		}
		for slot, want := range slots {
			checked++
			if got, ok := recs[id][slot]; !ok || got != want {
				lost++
				lostIn[id] = append(lostIn[id], slot)
				if lost <= 10 {
					t.Errorf("segment %d slot %d: reported %+v, holds %+v (present %v)", id, slot, want, got, ok)
				}
			}
		}
	}
	assert.Zero(t, lost, "reported writes lost")
	t.Logf("%d kills; %d lines from workers; %d segments left, %d reported writes in them all present",
		kills, model.lines, len(segs), checked)
	if testing.Verbose() {
		t.Logf("segments at the end:\n%s", firstLines(raw, "S "))
	}

	// Removing every segment leaves nothing in the store.
	r := run(t, time.Minute, cat(ns.enter(), shimEnv(t, store), []string{check, "remove-all"})...)
	require.Equal(t, 0, r.Code, r.String())
	assert.Equal(t, "used=0", strings.TrimSpace(r.Stdout))
	data, other := storeFiles(t, store)
	assert.Empty(t, data, "data files left after removing every segment")
	assert.Empty(t, other, "files left after removing every segment")
	if left := ipcs(t, ns.enter()); !assert.Empty(t, left, "presence segments left in the kernel") {
		// Who made them and who touched them last, against the workers
		// killed and the survivors: what the next look needs.
		pids := map[string]string{}
		for _, w := range ended {
			pids[strconv.Itoa(w.cmd.Process.Pid)] = "a worker killed"
		}
		for _, w := range survivors {
			pids[strconv.Itoa(w.cmd.Process.Pid)] = "a survivor"
		}
		for _, flag := range []string{"-p", "-t"} {
			r := run(t, 30*time.Second, cat(ns.enter(), []string{"ipcs", "-m", flag})...)
			t.Logf("ipcs -m %s:\n%s", flag, r.Stdout)
		}
		t.Logf("worker pids: %v (other pids: their forked children)", pids)
	}
}

func firstLines(out, prefix string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
