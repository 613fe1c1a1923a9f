// Package crash proves what docs/DURABILITY.md says survives a power cut.
//
// Writers (tests/cprogs/crash_writer.c, under goshm, each in a fresh IPC
// namespace) create, write and remove segments in three stores on one
// loop-mounted ext4: one flushes with goshm_sync, one with
// GOSHM_SYNC=detach, one never flushes.  At random moments the test copies
// the disk as a power cut leaves it (disk_test.go), checks the copy with
// e2fsck, mounts it, makes its stores look as after a reboot, and opens
// each with tests/cprogs/crash_check.c under goshm: the store must open
// without an error or a diagnostic line, and hold what the writers'
// reports say it must (model_test.go).  goshm gc and goshm doctor must
// find nothing wrong with it afterwards.
//
// GOSHM_CRASH_ROUNDS sets the number of cuts (default 12).
package crash

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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
	roundsDefault  = 12
	diskSize       = 128 << 20
	writersPerMode = 2
	keysPerWriter  = 10
	key0           = 0x43520000 // + mode << 12 + writer << 8
	// The kernel writes a dirty page back once it is older than
	// vm.dirty_expire_centisecs, looking every vm.dirty_writeback_centisecs;
	// ext4 commits what that changed every second (commit=1).  The test
	// sets them to 1 s and 0.5 s: whatever was written more than settle
	// before a cut must have reached the disk.
	dirtyExpire    = "100"
	dirtyWriteback = "50"
	settle         = 5 * time.Second
	// The first cut comes late enough for some segments to be settled.
	warmup = settle + 2*time.Second
)

// The three ways of flushing, each with its own store.
var modes = []struct {
	name string
	env  []string
}{
	{"sync", nil},
	{"detach", []string{"GOSHM_SYNC=detach"}},
	{"none", nil},
}

// writer is one running crash_writer and what it reported.
type writer struct {
	mode   string
	key0   int32
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan struct{} // its output is read to the end
	begins chan<- byte   // told of every creation and removal it begins

	mu     sync.Mutex
	events []event
	last   int64    // time of its last event
	errs   []string // E lines and unreadable lines
	ended  bool     // said D
}

func (w *writer) read(out *bufio.Scanner) {
	defer close(w.done)
	for out.Scan() {
		line := out.Text()
		w.mu.Lock()
		switch {
		case line == "D":
			w.ended = true
		case strings.HasPrefix(line, "H "):
		case strings.HasPrefix(line, "E "):
			w.errs = append(w.errs, line)
		default:
			e, err := parseEvent(line)
			if err != nil {
				w.errs = append(w.errs, err.Error())
				break
			}
			w.events = append(w.events, e)
			w.last = e.t
			if e.op == 'C' || e.op == 'R' {
				select {
				case w.begins <- e.op:
				default:
				}
			}
		}
		w.mu.Unlock()
	}
}

// eventsPast waits until the writer has reported a step that began after
// t -- so every event before t has been read -- and returns its events.
func (w *writer) eventsPast(t *testing.T, after int64) []event {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		w.mu.Lock()
		last, errs := w.last, w.errs
		events := w.events[:len(w.events):len(w.events)]
		w.mu.Unlock()
		require.Empty(t, errs, "writer %s %#x failed", w.mode, w.key0)
		if last > after {
			return events
		}
		select {
		case <-w.done:
			t.Fatalf("writer %s %#x ended early: %s", w.mode, w.key0, w.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "writer %s %#x reports nothing", w.mode, w.key0)
	}
}

func startWriter(t *testing.T, prog, store, mode string, env []string, k0 int32, nonce, seed uint64,
	begins chan<- byte) *writer {
	t.Helper()
	w := &writer{mode: mode, key0: k0, done: make(chan struct{}), begins: begins}
	ctx, cancel := context.WithCancel(context.Background())
	w.cmd = testenv.Command(t, ctx, testenv.Opts{Preload: true, Store: store, NewIPC: true, Env: env},
		prog, mode, fmt.Sprintf("%#x", nonce),
		fmt.Sprintf("%#x", k0), strconv.Itoa(keysPerWriter), strconv.FormatUint(seed, 10))
	w.cmd.Stderr = &w.stderr
	out, err := w.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, w.cmd.Start())
	go w.read(bufio.NewScanner(out))
	t.Cleanup(func() {
		// Stops it if the test failed before stopWriters; the mounts
		// cannot go while it runs.
		w.cmd.Process.Kill()
		<-w.done
		w.cmd.Wait()
		cancel()
	})
	return w
}

// stopWriters ends the writers with SIGTERM; each must have run without an
// error, said nothing on stderr (no diagnostic line of goshm), and reported
// a sequence of steps that makes sense.
func stopWriters(t *testing.T, ws []*writer) {
	t.Helper()
	for _, w := range ws {
		w.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, w := range ws {
		select {
		case <-w.done:
		case <-time.After(time.Minute):
			t.Fatalf("writer %s %#x does not stop", w.mode, w.key0)
		}
		err := w.cmd.Wait()
		assert.NoError(t, err, "writer %s %#x: %s", w.mode, w.key0, w.stderr.String())
		assert.True(t, w.ended, "writer %s %#x did not say D", w.mode, w.key0)
		assert.Empty(t, w.errs, "writer %s %#x", w.mode, w.key0)
		assert.Empty(t, w.stderr.String(), "writer %s %#x wrote on stderr", w.mode, w.key0)
		assert.Empty(t, checkEvents(w.events), "writer %s %#x", w.mode, w.key0)
	}
}

func rounds(t *testing.T) int {
	t.Helper()
	v := os.Getenv("GOSHM_CRASH_ROUNDS")
	if v == "" {
		return roundsDefault
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, "GOSHM_CRASH_ROUNDS=%q", v)
	require.Positive(t, n, "GOSHM_CRASH_ROUNDS")
	return n
}

// tally is what the cuts covered.
type tally struct {
	cuts                                     int
	aimed                                    int // cuts taken as a creation or removal began
	midCreate, midWrite, midFlush, midRemove int // cuts during at least one such step
	present, required, mixedPages            int
	repairedSlots, repairedFiles             int
}

// aimAt waits, at most a second, until a writer reports that it begins a
// step op ('C' or 'R'), so that the next cut comes in the middle of one.
func aimAt(begins chan byte, op byte) bool {
	for len(begins) > 0 {
		<-begins
	}
	timeout := time.After(time.Second)
	for {
		select {
		case got := <-begins:
			if got == op {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

// run is one TestPowerCut: its disk, its writers, what the cuts covered.
type run struct {
	t         *testing.T
	disk      *disk
	writers   []*writer
	keysOf    map[string][]int32 // the writers' keys, by store
	nonce     uint64
	checker   string // build/tests/crash_check
	goshmTool string // build/goshm
	start     time.Time
	sum       tally
}

// TestPowerCut copies the disk under running writers at random moments and
// checks every store in every copy against what the writers reported
// before the copy.
func TestPowerCut(t *testing.T) {
	testenv.RequireRoot(t)
	requireTools(t)
	r := &run{t: t, keysOf: map[string][]int32{},
		checker: testenv.Artifact(t, "tests/crash_check"), goshmTool: testenv.Artifact(t, "goshm")}
	writerProg := testenv.Artifact(t, "tests/crash_writer")
	testenv.Lib(t)
	n := rounds(t)
	seed := rand.Uint64()
	r.nonce = rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, seed))
	t.Logf("seed %d, nonce %#x, %d cuts", seed, r.nonce, n)

	exclusive(t)
	setSysctl(t, "vm.dirty_expire_centisecs", dirtyExpire)
	setSysctl(t, "vm.dirty_writeback_centisecs", dirtyWriteback)
	// commit=1: the journal commits every second instead of every 5, so
	// that what the kernel wrote back is on the disk soon after (docs/
	// DURABILITY.md counts the commit interval in "about 30 s").
	r.disk = newDisk(t, diskSize, 1)

	begins := make(chan byte, 64)
	for m, mode := range modes {
		store := filepath.Join(r.disk.mnt, mode.name)
		for i := 0; i < writersPerMode; i++ {
			k0 := int32(key0 + m<<12 + i<<8)
			r.writers = append(r.writers, startWriter(t, writerProg, store, mode.name, mode.env, k0,
				r.nonce, rng.Uint64(), begins))
			for k := int32(0); k < keysPerWriter; k++ {
				r.keysOf[mode.name] = append(r.keysOf[mode.name], k0+k)
			}
		}
	}
	r.start = time.Now()

	// The first cut comes while the stores are first used; the others
	// once some segments have been left alone for longer than settle.  A
	// cut in three comes at a random moment, the others as a writer
	// reports that it begins a creation, or a removal.
	for round := 1; round <= n && !t.Failed(); round++ {
		switch round {
		case 1:
			time.Sleep(time.Duration(rng.Int64N(int64(300 * time.Millisecond))))
		case 2:
			time.Sleep(warmup - time.Since(r.start))
			fallthrough
		default:
			time.Sleep(time.Duration(rng.Int64N(int64(1500 * time.Millisecond))))
		}
		op := "-CR"[round%3]
		aim := "at random"
		ready := func() {
			if op != '-' && aimAt(begins, op) {
				aim = map[byte]string{'C': "as a creation began", 'R': "as a removal began"}[op]
				r.sum.aimed++
			}
		}
		r.cut(round, ready, &aim)
	}
	stopWriters(t, r.writers)
	sum := r.sum
	t.Logf("%d cuts in %v (%d aimed): during a creation %d, a write %d, a flush %d, a removal %d; "+
		"%d segments found (%d that had to be), %d pages caught between two versions; "+
		"the repairs freed %d slots and removed %d files (tokens of the last boot among them)",
		sum.cuts, time.Since(r.start).Round(time.Second), sum.aimed, sum.midCreate, sum.midWrite,
		sum.midFlush, sum.midRemove, sum.present, sum.required, sum.mixedPages, sum.repairedSlots,
		sum.repairedFiles)
}

// cut takes one cut, at the instant ready returns, and checks every store
// in it.
func (r *run) cut(round int, ready func(), aim *string) {
	t := r.t
	t.Helper()
	name := fmt.Sprintf("cut-%02d", round)
	image, cut := r.disk.cut(name+".img", ready)
	at := time.Since(r.start).Round(time.Millisecond)
	pristine, _ := r.disk.cut(name+".orig.img", nil) // kept if the round fails
	r.sum.cuts++

	// Every event before the cut, from every writer.
	events := map[string][]event{}
	var fly inFlight
	for _, w := range r.writers {
		evs := w.eventsPast(t, cut.end)
		events[w.mode] = append(events[w.mode], evs...)
		f := countInFlight(evs, cut)
		fly.creates += f.creates
		fly.writes += f.writes
		fly.flushes += f.flushes
		fly.removes += f.removes
	}
	for _, c := range []struct {
		n   int
		sum *int
	}{{fly.creates, &r.sum.midCreate}, {fly.writes, &r.sum.midWrite}, {fly.flushes, &r.sum.midFlush},
		{fly.removes, &r.sum.midRemove}} {
		if c.n > 0 {
			*c.sum++
		}
	}

	mnt, fsck, unmountCopy := r.disk.mountCopy(image)
	var report []string
	failed := false
	for _, mode := range modes {
		m := newModel(events[mode.name], cut, int64(settle))
		res := r.checkStore(filepath.Join(mnt, mode.name), m, r.keysOf[mode.name])
		r.sum.present += res.present
		r.sum.required += res.required
		r.sum.mixedPages += res.mixed
		r.sum.repairedSlots += res.slots
		r.sum.repairedFiles += res.files
		report = append(report, fmt.Sprintf("%s %d/%d (repair: %d slots, %d files)",
			mode.name, res.present, res.required, res.slots, res.files))
		for _, e := range res.errs {
			t.Errorf("cut %d (%v after the start), store %s: %s", round, at, mode.name, e)
			failed = true
		}
	}
	unmountCopy()
	t.Logf("cut %d at %v, %s, in %v, %s: segments found/required %s; under way: %d creations, "+
		"%d writes, %d flushes, %d removals", round, at, *aim,
		time.Duration(cut.end-cut.start).Round(time.Microsecond), fsck, strings.Join(report, ", "),
		fly.creates, fly.writes, fly.flushes, fly.removes)
	if failed {
		keepCopy(t, pristine)
	}
	os.Remove(image)
	os.Remove(pristine)
	os.Remove(strings.TrimSuffix(image, ".img") + ".mnt")
}

// keepCopy saves a copy of a failing cut, as the power cut left it,
// outside the test's tmpfs.
func keepCopy(t *testing.T, image string) {
	dir, err := os.MkdirTemp("/var/tmp", "goshm-crash-")
	if err != nil {
		t.Logf("cannot keep the copy: %v", err)
		return
	}
	dst := filepath.Join(dir, filepath.Base(image))
	if out, err := shErr(5*time.Minute, "cp", "--sparse=always", image, dst); err != nil {
		t.Logf("cannot keep the copy: %v %s", err, out)
		return
	}
	t.Logf("the disk as the cut left it (before e2fsck): %s", dst)
}

// What goshm gc may find in a repaired store (docs/FORMAT.md): token files
// of crash_check's namespace, which has ended, and the temporary registry
// of a first use the cut interrupted, which the repair leaves to gc.
var collectable = regexp.MustCompile(`/segments/seg-\d+\.ns\d+\.\d+$|/\.registry\.\d+\.[0-9a-f]+\.tmp$`)

// storeResult is what checkStore found in one store of a cut.
type storeResult struct {
	errs              []string
	present, required int // the writers' segments it holds, and those it must hold
	mixed             int // pages caught between two versions
	slots, files      int // what the repair freed and removed
}

// Offsets of docs/FORMAT.md's header: the repair's counters.
const (
	regRepairsOff       = 1160
	regRepairedSlotsOff = 1164
	regRepairedFilesOff = 1176
)

func repairCounters(t *testing.T, store string) (repairs, slots, files int, ok bool) {
	t.Helper()
	f, err := os.Open(filepath.Join(store, "registry"))
	if os.IsNotExist(err) {
		return 0, 0, 0, false
	}
	require.NoError(t, err)
	defer f.Close()
	var h [regRepairedFilesOff + 4]byte
	_, err = f.ReadAt(h[:], 0)
	require.NoError(t, err)
	le := binary.LittleEndian
	return int(le.Uint32(h[regRepairsOff:])), int(le.Uint32(h[regRepairedSlotsOff:])),
		int(le.Uint32(h[regRepairedFilesOff:])), true
}

// checkStore makes one store of a cut look as after a reboot, opens it
// with crash_check, compares what it holds with the model, then runs goshm
// gc and goshm doctor on it.
func (r *run) checkStore(store string, m *model, keys []int32) (res storeResult) {
	t := r.t
	t.Helper()
	for _, k := range keys {
		if ls := m.lives[k]; len(ls) > 0 && ls[len(ls)-1].mustExist != "" {
			res.required++
		}
	}
	repairs, _, _, hasRegistry := repairCounters(t, store)
	if hasRegistry {
		fakeReboot(t, store)
	}
	args := []string{r.checker, fmt.Sprintf("%#x", r.nonce)}
	for i := 0; i < len(keys); i += keysPerWriter {
		args = append(args, strconv.Itoa(int(keys[i])), strconv.Itoa(keysPerWriter))
	}
	out := testenv.Run(t, testenv.Opts{Preload: true, Store: store, NewIPC: true, Timeout: 2 * time.Minute}, args...)
	if out.Code != 0 || out.Stderr != "" {
		res.errs = append(res.errs, "the store does not open cleanly: "+out.String())
		return res
	}
	st, err := parseCheck(out.Stdout)
	if err != nil {
		res.errs = append(res.errs, err.Error()+"\n"+out.Stdout)
		return res
	}
	for _, s := range st.keys {
		if !s.absent && s.err == "" {
			res.present++
			for _, p := range s.pages {
				if p.lo != p.hi {
					res.mixed++
				}
			}
		}
	}
	res.errs = append(res.errs, m.checkStore(keys, st)...)
	if len(res.errs) > 0 {
		res.errs = append(res.errs, "crash_check said:\n"+out.Stdout)
	}
	if hasRegistry {
		var after int
		after, res.slots, res.files, _ = repairCounters(t, store)
		if after != repairs+1 {
			res.errs = append(res.errs, fmt.Sprintf("%d repairs after the reboot, not 1", after-repairs))
		}
	}
	if _, err := os.Stat(store); os.IsNotExist(err) {
		return res // a cut before the first shmget: nothing to collect or check
	}

	// goshm gc: the repair left nothing to collect but the collectable.
	gc := testenv.Run(t, testenv.Opts{Store: store, NewIPC: true}, r.goshmTool, "gc", "--json")
	var items []struct {
		Kind    string `json:"kind"`
		Path    string `json:"path"`
		Removed bool   `json:"removed"`
	}
	if gc.Code != 0 || gc.Stderr != "" || json.Unmarshal([]byte(gc.Stdout), &items) != nil {
		res.errs = append(res.errs, "goshm gc: "+gc.String())
	}
	for _, it := range items {
		if it.Kind != "file" || !it.Removed || !collectable.MatchString(it.Path) {
			res.errs = append(res.errs, fmt.Sprintf("goshm gc found %s %s (removed: %v) after the repair",
				it.Kind, it.Path, it.Removed))
		}
	}

	// goshm doctor: the registry opens, the store is trusted.
	doc := testenv.Run(t, testenv.Opts{Store: store, NewIPC: true}, r.goshmTool, "doctor", "--json")
	var report struct {
		Checks []struct{ Name, Status, Message string }
	}
	if err := json.Unmarshal([]byte(doc.Stdout), &report); err != nil {
		res.errs = append(res.errs, "goshm doctor: "+doc.String())
	}
	for _, c := range report.Checks {
		if (c.Name == "registry" || c.Name == "trust") && c.Status == "FAIL" {
			res.errs = append(res.errs, fmt.Sprintf("goshm doctor: %s %s: %s", c.Status, c.Name, c.Message))
		}
	}
	return res
}
