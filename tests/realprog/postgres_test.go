package realprog

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const mib = 1 << 20

// parallelSession makes every query of the psql session run in parallel
// workers, which share the query's state through a dynamic shared memory
// segment: with dynamic_shared_memory_type=sysv, a System V segment.
var parallelSession = []string{
	"SET max_parallel_workers_per_gather = 2",
	"SET parallel_setup_cost = 0",
	"SET parallel_tuple_cost = 0",
	"SET min_parallel_table_scan_size = 0",
	"SET force_parallel_mode = on",
}

// PostgreSQL 15 with its whole shared memory in goshm: initdb, start,
// pgbench, parallel queries and a clean stop, in a fresh IPC namespace.
func TestPostgresUnderGoshm(t *testing.T) {
	c := newPGCluster(t)
	t.Logf("ran %s", pgVersion(t))
	ns := newIPCNS(t)
	c.initdb(ns.enter())
	data, other := storeFiles(t, c.store)
	require.Empty(t, data, "initdb left segments behind")
	require.Empty(t, other)

	s := c.start(ns.enter())
	// The shared buffer pool is a goshm segment.
	{
		key, id := c.pidFileKey()
		st, r := goshmStat(t, ns.enter(), c.store, "id", strconv.Itoa(id))
		require.Len(t, st, 1, r.String())
		seg := st[0]
		assert.Equal(t, key, seg.key)
		assert.Greater(t, seg.size, uint64(128*mib), "shared_buffers=128MB and more")
		// One data file of that size (page-rounded) holds it.
		data, _ := storeFiles(t, c.store)
		var sizes []int64
		found := false
		page := uint64(os.Getpagesize())
		for _, f := range data {
			sizes = append(sizes, f.size)
			found = found || f.size == int64((seg.size+page-1)&^(page-1))
		}
		assert.True(t, found, "no data file of %d bytes among %v", seg.size, sizes)
		t.Logf("main segment: key %#x id %d, %d bytes, nattch %d; data files %v",
			seg.key, seg.id, seg.size, seg.nattch, sizes)

		// Every server process is attached: the postmaster and its children.
		assert.Eventually(t, func() bool {
			st, _ := goshmStat(t, ns.enter(), c.store, "id", strconv.Itoa(id))
			return len(st) == 1 && st[0].nattch == 1+len(children(t, s.proc.pid()))
		}, 10*time.Second, 50*time.Millisecond, "nattch is not the number of server processes")

		// The kernel holds only goshm's one-byte presence segments, one
		// per attached goshm segment; they live as long as their goshm
		// segment, so they are not removed ("dest").
		kern := ipcs(t, ns.enter())
		require.NotEmpty(t, kern)
		assert.Len(t, kern, len(data))
		for _, k := range kern {
			assert.Equal(t, 1, k.bytes, "%+v", k)
			assert.Equal(t, "", k.status, "%+v", k)
			assert.Equal(t, "644", k.perms, "%+v", k)
			assert.Equal(t, "0x00000000", k.key, "%+v", k)
		}
	}

	// pgbench: a short load.
	{
		r := c.pgbench(3*time.Minute, "-i", "-s", "1", "-q")
		require.Equal(t, 0, r.Code, r.String())
		r = c.pgbench(2*time.Minute, "-T", "5", "-c", "4", "-j", "2")
		require.Equal(t, 0, r.Code, r.String())
		assert.Contains(t, r.Stdout, "number of failed transactions: 0 ")
		m := regexp.MustCompile(`number of transactions actually processed: (\d+)`).FindStringSubmatch(r.Stdout)
		require.NotNil(t, m, r.Stdout)
		n, _ := strconv.Atoi(m[1])
		assert.Greater(t, n, 0)
		tps := regexp.MustCompile(`tps = [0-9.]+ \(without initial connection time\)`).FindString(r.Stdout)
		t.Logf("pgbench -T 5 -c 4: %d transactions, %s", n, tps)
	}

	// A parallel query, whose workers share a dynamic segment.
	{
		plan := c.mustPsql(append(parallelSession,
			"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM pgbench_accounts")...)
		assert.Contains(t, plan, "Workers Launched: 2", plan)
		count := c.mustPsql(append(parallelSession, "SELECT count(*) FROM pgbench_accounts")...)
		assert.Equal(t, "100000", count)
		t.Logf("plan:\n%s", plan)

		// While a parallel query runs, its dynamic segment is a goshm
		// segment: a new data file appears in the store, and goes.  The
		// query sleeps in a worker to give the test time to look.
		plan = c.mustPsql(append(parallelSession, "EXPLAIN (COSTS OFF) SELECT pg_sleep(2)")...)
		require.Contains(t, plan, "Single Copy: true", plan)
		before := map[string]bool{}
		data, _ := storeFiles(t, c.store)
		for _, f := range data {
			before[f.name] = true
		}
		done := make(chan error, 1)
		go func() {
			_, err := c.psql(append(parallelSession, "SELECT pg_sleep(2)")...)
			done <- err
		}()
		seen := map[string]int64{}
		for running := true; running; {
			select {
			case err := <-done:
				require.NoError(t, err)
				running = false
			case <-time.After(5 * time.Millisecond):
				data, _ := storeFiles(t, c.store)
				for _, f := range data {
					if !before[f.name] {
						seen[f.name] = f.size
					}
				}
			}
		}
		assert.NotEmpty(t, seen, "no dynamic segment appeared in the store")
		t.Logf("dynamic segments seen during the query: %v", seen)
		assert.Eventually(t, func() bool {
			data, _ := storeFiles(t, c.store)
			for _, f := range data {
				if _, ok := seen[f.name]; ok {
					return false
				}
			}
			return true
		}, 10*time.Second, 20*time.Millisecond, "a dynamic segment outlived its query")
	}

	s.stop()
	// A clean stop leaves nothing behind.
	{
		data, other := storeFiles(t, c.store)
		assert.Empty(t, data, "segments left in the store")
		assert.Empty(t, other, "files left in the store")
		assert.Empty(t, ipcs(t, ns.enter()), "segments left in the kernel")
		st, r := goshmStat(t, ns.enter(), c.store, "all")
		assert.Empty(t, st, r.String())
		assert.Contains(t, r.Stdout, "used=0")
	}
}

// PostgreSQL's crash interlock depends on shm_nattch: after the
// postmaster is killed, a new one must refuse to start while any old
// backend still has the old segment attached, and must start (with crash
// recovery) once none has.
func TestPostgresCrashInterlock(t *testing.T) {
	c := newPGCluster(t)
	t.Logf("ran %s", pgVersion(t))
	ns := newIPCNS(t)
	c.initdb(ns.enter())
	s := c.start(ns.enter())
	c.mustPsql("CREATE TABLE kept (id int PRIMARY KEY)", "INSERT INTO kept SELECT generate_series(1, 1000)")

	// A backend that outlives its postmaster: a busy loop in PL/pgSQL
	// never waits on a latch, so it never notices the postmaster's death.
	busy := start(t, c.newLog("busy"), "psql", "-X", "-h", c.sock, "-p", strconv.Itoa(c.port),
		"-U", "postgres", "-d", "postgres", "-c", "DO $$ BEGIN LOOP END LOOP; END $$")
	var backend int
	require.Eventually(t, func() bool {
		out, err := c.psql("SELECT pid FROM pg_stat_activity WHERE query LIKE 'DO %'")
		if err != nil || out == "" {
			return false
		}
		backend, err = strconv.Atoi(out)
		return err == nil
	}, 30*time.Second, 50*time.Millisecond)
	// It spins until killed: make sure it is, whatever happens below.
	t.Cleanup(func() {
		if cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", backend)); err == nil &&
			strings.HasPrefix(string(cmd), "postgres: ") {
			_ = syscall.Kill(backend, syscall.SIGKILL)
		}
	})
	others := children(t, s.proc.pid())
	require.Contains(t, others, backend)
	_, id := c.pidFileKey()

	require.NoError(t, s.proc.cmd.Process.Signal(syscall.SIGKILL))
	require.Equal(t, 128+int(syscall.SIGKILL), s.proc.wait(t, 30*time.Second))
	// The other children notice the postmaster's death and exit.
	for _, pid := range others {
		if pid != backend {
			waitGone(t, pid, 30*time.Second)
		}
	}
	require.True(t, alive(backend), "the busy backend died with its postmaster")
	st, r := goshmStat(t, ns.enter(), c.store, "id", strconv.Itoa(id))
	require.Len(t, st, 1, r.String())
	assert.Equal(t, 1, st[0].nattch, "only the busy backend is attached")

	refused := start(t, c.newLog("refused"), cat(ns.enter(), c.postmasterArgv())...)
	code := refused.wait(t, time.Minute)
	log := refused.output(t)
	assert.NotEqual(t, 0, code, log)
	assert.Regexp(t, `pre-existing shared memory block \(key \d+, ID \d+\) is still in use`, log)
	t.Logf("second postmaster, with the old backend alive: exit %d: %s", code,
		firstLine(log, "pre-existing"))

	require.NoError(t, syscall.Kill(backend, syscall.SIGKILL))
	waitGone(t, backend, 30*time.Second)
	busy.wait(t, 30*time.Second)
	st, r = goshmStat(t, ns.enter(), c.store, "id", strconv.Itoa(id))
	require.Len(t, st, 1, r.String())
	assert.Equal(t, 0, st[0].nattch, "nobody is attached any more")

	s = c.start(ns.enter())
	log = s.proc.output(t)
	assert.Contains(t, log, "database system was not properly shut down; automatic recovery in progress")
	assert.Equal(t, "1000", c.mustPsql("SELECT count(*) FROM kept"))
	t.Logf("third postmaster: %s", firstLine(log, "automatic recovery"))
	s.stop()

	data, other := storeFiles(t, c.store)
	assert.Empty(t, data, "segments left in the store (the crashed server's too)")
	assert.Empty(t, other)
	assert.Empty(t, ipcs(t, ns.enter()))
}

// A container restart: the server runs in its own IPC and PID namespace
// under real_init; killing the init (SIGKILL) in the middle of a pgbench
// run kills every process of the container at once.  The next container,
// in fresh namespaces, finds the old segment in the store with nattch 0,
// recovers, and has every commit that was acknowledged.
func TestPostgresContainerRestart(t *testing.T) {
	c := newPGCluster(t)
	t.Logf("ran %s", pgVersion(t))
	c.initdb([]string{"unshare", "--ipc", "--"})
	s := c.startContainer()
	c.mustPsql("CREATE TABLE acked (id int PRIMARY KEY)")
	r := c.pgbench(3*time.Minute, "-i", "-s", "1", "-q")
	require.Equal(t, 0, r.Code, r.String())
	bench := start(t, c.newLog("pgbench"), "pgbench", "-h", c.sock, "-p", strconv.Itoa(c.port),
		"-U", "postgres", "-T", "60", "-c", "2", "postgres")

	// A client commits sequential ids, one transaction each, and records
	// the highest one the server acknowledged; the container dies under it.
	ins := startInserter(t, c)
	time.Sleep(2 * time.Second)
	inContainer := ipcs(t, s.enterContainer())
	require.NotEmpty(t, inContainer)
	for _, k := range inContainer {
		assert.Equal(t, 1, k.bytes, "only presence segments in the container's namespace: %+v", k)
	}
	require.NoError(t, syscall.Kill(s.initPid(), syscall.SIGKILL))
	s.proc.wait(t, time.Minute)
	acked := ins.wait(t)
	require.Greater(t, acked, 0, "no insert was acknowledged")
	assert.NotEqual(t, 0, bench.wait(t, time.Minute), "pgbench should have lost its server")
	t.Logf("killed the container's init during pgbench; %d inserts acknowledged", acked)

	// The store still has the old server's segments.  Nothing of goshm
	// looks at them before the new server does: that it starts at all
	// says it read nattch 0 for its old main segment (attached by nobody
	// since the old namespace died), and it removes them all, as it does
	// on the host after a crash.
	// Segments are told apart by id and creator.
	fresh := []string{"unshare", "--ipc", "--"}
	old, r0 := goshmStat(t, fresh, c.store, "all")
	require.NotEmpty(t, old, r0.String())
	t.Logf("the killed container left %d segments in the store", len(old))

	s = c.startContainer()
	log := s.proc.output(t)
	assert.Contains(t, log, "database system was interrupted")
	assert.Contains(t, log, "automatic recovery in progress")
	t.Logf("restarted: %s", firstLine(log, "automatic recovery"))
	now, r1 := goshmStat(t, fresh, c.store, "all")
	for _, o := range old {
		for _, n := range now {
			assert.False(t, n.id == o.id && n.cpid == o.cpid,
				"the new server did not remove an old segment: %+v\n%s", o, r1)
		}
	}
	out := c.mustPsql(fmt.Sprintf("SELECT count(*) FROM acked WHERE id <= %d", acked))
	assert.Equal(t, strconv.Itoa(acked), out, "acknowledged commits lost")
	out = c.mustPsql("SELECT max(id) FROM acked")
	top, _ := strconv.Atoi(out)
	assert.GreaterOrEqual(t, top, acked)
	assert.LessOrEqual(t, top, acked+1, "at most the one insert in flight may have committed")
	r = c.pgbench(2*time.Minute, "-T", "2", "-c", "2")
	assert.Equal(t, 0, r.Code, r.String())

	s.stop()
	data, other := storeFiles(t, c.store)
	assert.Empty(t, data, "segments left in the store (the killed container's too)")
	assert.Empty(t, other)
}

func firstLine(log, substr string) string {
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, substr) {
			return l
		}
	}
	return fmt.Sprintf("(no line with %q)", substr)
}

// inserter is one psql session that inserts 1, 2, 3... into acked, each in
// its own transaction, and reads back every acknowledged id.
type inserter struct {
	acked chan int
}

func startInserter(t *testing.T, c *pgCluster) *inserter {
	t.Helper()
	cmd := exec.Command("psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-h", c.sock, "-p", strconv.Itoa(c.port), "-U", "postgres", "-d", "postgres")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	ins := &inserter{acked: make(chan int, 1)}
	go func() {
		defer func() { _ = cmd.Wait() }()
		lines := bufio.NewScanner(stdout)
		last := 0
		for n := 1; ; n++ {
			if _, err := fmt.Fprintf(stdin, "INSERT INTO acked VALUES (%d) RETURNING id;\n", n); err != nil {
				break
			}
			// psql prints the row once the server has committed it.
			if !lines.Scan() || strings.TrimSpace(lines.Text()) != strconv.Itoa(n) {
				break
			}
			last = n
		}
		stdin.Close()
		ins.acked <- last
	}()
	return ins
}

// wait returns the highest acknowledged id once the session has ended.
func (ins *inserter) wait(t *testing.T) int {
	t.Helper()
	select {
	case n := <-ins.acked:
		return n
	case <-time.After(time.Minute):
		t.Fatal("the inserting psql session did not end with its server")
		return 0
	}
}

// A store the server's user may not use makes PostgreSQL stop with an
// error at once.  shmget says EPERM there: PostgreSQL takes EACCES from
// shmget(IPC_CREAT|IPC_EXCL) for "another user's segment has this key"
// and would try the next key, and the next, forever.
func TestPostgresRefusesUnusableStore(t *testing.T) {
	c := newPGCluster(t)
	t.Logf("ran %s", pgVersion(t))
	ns := newIPCNS(t)
	c.initdb(ns.enter())

	// Root's directory, mode 0755: the postgres user cannot create the
	// store in it.
	locked := filepath.Join(c.dir, "locked")
	require.NoError(t, os.Mkdir(locked, 0o755))
	store := filepath.Join(locked, "store")
	argv := cat(ns.enter(), c.pg.as(), shimEnvWith(c.lib, store),
		[]string{filepath.Join(pgBin, "postgres"), "-D", c.data}, pgShmOpts)
	r := run(t, 60*time.Second, argv...)
	require.NotEqual(t, -1, r.Code, "the server did not stop on its own: %s", r)
	assert.NotEqual(t, 0, r.Code, r.String())
	assert.Contains(t, r.Stderr, "could not create shared memory segment: Operation not permitted")
	assert.Contains(t, r.Stderr, "goshm: store "+store)
	assert.NoDirExists(t, store)
}
