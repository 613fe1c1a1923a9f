package realprog

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// POSIX shared memory across a restart: each step runs in a "container"
// of its own -- a fresh IPC namespace and a fresh mount namespace with an
// empty tmpfs on /dev/shm, both thrown away when the step ends.  With
// GOSHM_POSIX=1 the objects are in the store and the next container finds
// them; without it (the library still preloaded) they were in the old
// container's /dev/shm and are lost, as natively.

// freshShm is the argv prefix of such a container.
var freshShm = []string{"unshare", "--ipc", "--mount", "--", "sh", "-c",
	`mount -t tmpfs tmpfs /dev/shm && exec "$@"`, "sh"}

// posixEnv is the argv prefix that runs a program under the library with
// store, GOSHM_POSIX=1 when served.
func posixEnv(lib, store string, served bool) []string {
	env := shimEnvWith(lib, store)
	if served {
		env = append(env, "GOSHM_POSIX=1")
	}
	return env
}

func TestPOSIXRestartC(t *testing.T) {
	testenv.RequireRoot(t)
	probe := testenv.Artifact(t, "tests/posix_probe")
	for _, served := range []bool{true, false} {
		store := testenv.NewStore(t)
		shim := posixEnv(testenv.Lib(t), store, served)
		mustRun(t, time.Minute, cat(freshShm, shim, []string{probe, "put", "/c_obj", "kept by goshm"})...)
		r := run(t, time.Minute, cat(freshShm, shim, []string{probe, "get", "/c_obj"})...)
		if served {
			require.Equal(t, 0, r.Code, r.String())
			assert.Equal(t, "get /c_obj: size=4096 kept by goshm\n", r.Stdout)
			mustRun(t, time.Minute, cat(freshShm, shim, []string{probe, "rm", "/c_obj"})...)
			ents, err := os.ReadDir(filepath.Join(store, "posix"))
			require.NoError(t, err)
			assert.Empty(t, ents, "shm_unlink removed the object from the store")
		} else {
			assert.Equal(t, 1, r.Code, r.String())
			assert.Equal(t, "get /c_obj: ENOENT\n", r.Stdout, "without GOSHM_POSIX the restart loses it")
		}
	}
}

// A program linked with -lgoshm instead of preloaded: its shm_open is
// goshm's too, and GOSHM_POSIX alone turns serving on.
func TestPOSIXRestartRelinked(t *testing.T) {
	testenv.RequireRoot(t)
	root := testenv.Root(t)
	lib := testenv.CLib(t)
	prog := filepath.Join(t.TempDir(), "posix_probe_linked")
	mustRun(t, 2*time.Minute, "gcc", "-O2", "-o", prog, filepath.Join(root, "tests/cprogs/posix_probe.c"),
		"-L"+filepath.Dir(lib), "-lgoshm", "-Wl,-rpath,"+filepath.Dir(lib))
	store := testenv.NewStore(t)
	env := []string{"env", "-u", "LD_PRELOAD", "GOSHM_DIR=" + store, "GOSHM_POSIX=1"}
	mustRun(t, time.Minute, cat(freshShm, env, []string{prog, "put", "/linked", "relinked"})...)
	r := mustRun(t, time.Minute, cat(freshShm, env, []string{prog, "get", "/linked"})...)
	assert.Equal(t, "get /linked: size=4096 relinked\n", r.Stdout)
	_, err := os.Stat(filepath.Join(store, "posix", "linked"))
	assert.NoError(t, err, "the object is in the store")
}

func TestPOSIXRestartPython(t *testing.T) {
	testenv.RequireRoot(t)
	script, err := filepath.Abs("testdata/posix_shm.py")
	require.NoError(t, err)
	t.Logf("ran Python %s, multiprocessing.shared_memory",
		strings.TrimSpace(mustRun(t, 30*time.Second, python, script, "version").Stdout))
	for _, served := range []bool{true, false} {
		store := testenv.NewStore(t)
		shim := posixEnv(testenv.Lib(t), store, served)
		r := mustRun(t, time.Minute, cat(freshShm, shim, []string{python, script, "create", "py_obj"})...)
		assert.Equal(t, "created hello from a child exit 0\n", r.Stdout)
		assert.Empty(t, r.Stderr, "no resource_tracker warning")
		r = run(t, time.Minute, cat(freshShm, shim, []string{python, script, "read", "py_obj"})...)
		if served {
			require.Equal(t, 0, r.Code, r.String())
			assert.Equal(t, "found hello from a child size 4096\n", r.Stdout)
			ents, err := os.ReadDir(filepath.Join(store, "posix"))
			require.NoError(t, err)
			assert.Empty(t, ents, "SharedMemory.unlink removed the object from the store")
		} else {
			assert.Equal(t, 1, r.Code, r.String())
			assert.Equal(t, "lost py_obj\n", r.Stdout, "without GOSHM_POSIX the restart loses it")
		}
	}
}

// PostgreSQL 15 with dynamic_shared_memory_type=posix (its default): a
// parallel query's dynamic shared memory and the control segment that
// lists it are POSIX objects.  The container is killed in the middle of
// such a query.  The next server, in a new container, looks for the old
// control segment (named in the old System V interlock segment, which
// goshm keeps) to remove what the dead server left: under GOSHM_POSIX it
// finds it in the store, and the segments it lists; without, the restart
// has lost them.
func TestPOSIXRestartPostgres(t *testing.T) {
	for _, served := range []bool{true, false} {
		name := "GOSHM_POSIX=1 keeps the objects"
		if !served {
			name = "without GOSHM_POSIX the restart loses them"
		}
		t.Run(name, func(t *testing.T) { pgPOSIXRestart(t, served) })
	}
}

func pgPOSIXRestart(t *testing.T, served bool) {
	c := newPGCluster(t)
	t.Logf("ran %s", pgVersion(t))
	c.initdb([]string{"unshare", "--ipc", "--"})
	posixDir := filepath.Join(c.store, "posix")
	startIt := func() *pgServer {
		argv := cat([]string{"unshare", "--ipc", "--pid", "--fork", "--mount-proc",
			"--kill-child=SIGKILL", "--", "sh", "-c", `mount -t tmpfs tmpfs /dev/shm && exec "$@"`,
			"sh", testenv.Artifact(t, "tests/real_init")},
			c.pg.as(), posixEnv(c.lib, c.store, served),
			[]string{filepath.Join(pgBin, "postgres"), "-D", c.data,
				"-c", "dynamic_shared_memory_type=posix", "-c", "log_min_messages=debug2",
				"-c", "max_parallel_workers_per_gather=2"})
		s := &pgServer{c: c, proc: start(t, c.newLog("container"), argv...), container: true}
		s.waitReady()
		return s
	}
	pgObjects := func() []string {
		ents, _ := os.ReadDir(posixDir)
		var names []string
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "PostgreSQL.") {
				names = append(names, e.Name())
			}
		}
		return names
	}

	s := startIt()
	force := []string{"SET parallel_setup_cost = 0", "SET parallel_tuple_cost = 0",
		"SET min_parallel_table_scan_size = 0"}
	c.mustPsql("CREATE TABLE big AS SELECT g AS x FROM generate_series(1, 300000) g")
	plan := c.mustPsql(append(force, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT sum(x) FROM big")...)
	require.Contains(t, plan, "Workers Launched: 2", plan)
	sum := c.mustPsql(append(force, "SELECT sum(x) FROM big")...)
	assert.Equal(t, "45000150000", sum)
	if served {
		// The control segment, and the segments of PostgreSQL 15's
		// shared-memory statistics.
		assert.NotEmpty(t, pgObjects(), "the server's segments are in the store")
	} else {
		assert.Empty(t, pgObjects(), "nothing in the store without GOSHM_POSIX")
	}

	// A long parallel query, and the container killed under it.
	idle := len(pgObjects())
	q := start(t, c.newLog("query"), cat([]string{"psql", "-X", "-h", c.sock, "-p",
		strconv.Itoa(c.port), "-U", "postgres", "-d", "postgres"},
		[]string{"-c", force[0], "-c", force[1], "-c", force[2],
			"-c", "SELECT sum(x) FROM big CROSS JOIN generate_series(1, 2000)"})...)
	if served {
		require.Eventually(t, func() bool { return len(pgObjects()) > idle }, 30*time.Second,
			50*time.Millisecond, "the parallel query's segment appears in the store")
	}
	if !served {
		time.Sleep(2 * time.Second) // nothing in the store to wait for
	}
	require.NoError(t, syscall.Kill(s.initPid(), syscall.SIGKILL))
	s.proc.wait(t, time.Minute)
	q.wait(t, time.Minute)
	// What the dead server left, read once all of it is gone: a segment
	// created between a look before the kill and the kill is left too.
	before := pgObjects()
	t.Logf("killed the container during a parallel query; POSIX objects in the store: %v", before)

	s = startIt()
	log := s.proc.output(t)
	var leaked []string
	if served {
		// What the new server found through the old control segment,
		// and removed.
		cleaned := map[string]bool{}
		for _, m := range cleanedRE.FindAllStringSubmatch(log, -1) {
			cleaned["PostgreSQL."+m[2]] = true
			if m[1] == "dynamic shared memory control segment" {
				assert.Contains(t, before, "PostgreSQL."+m[2], "the control segment it found is the old one")
			}
		}
		assert.Contains(t, log, "cleaning up orphaned dynamic shared memory with ID")
		assert.Contains(t, log, "cleaning up dynamic shared memory control segment with ID")
		now := pgObjects()
		for o := range cleaned {
			assert.NotContains(t, now, o, "the new server removed the old objects it found")
		}
		// A segment the dead server was creating or destroying at the
		// kill is in no control segment: PostgreSQL leaks it, in the
		// store as it would in a host's /dev/shm until a reboot.
		for _, o := range before {
			if !cleaned[o] {
				leaked = append(leaked, o)
			}
		}
		if len(leaked) > 0 {
			t.Logf("PostgreSQL leaked %v (not in its control segment at the kill)", leaked)
		}
		assert.NotEmpty(t, now, "its own segments")
	} else {
		assert.Contains(t, log, "could not open shared memory segment \"/PostgreSQL.")
		assert.NotContains(t, log, "cleaning up dynamic shared memory control segment")
		assert.Empty(t, pgObjects())
	}
	if served {
		t.Logf("restarted: %s", firstLine(log, "cleaning up dynamic shared memory control"))
	} else {
		t.Logf("restarted: %s", firstLine(log, "could not open shared memory segment"))
	}
	assert.Equal(t, "45000150000", c.mustPsql(append(force, "SELECT sum(x) FROM big")...))
	s.stop()
	if served {
		assert.ElementsMatch(t, leaked, pgObjects(), "a clean shutdown removes its segments")
	}
}

var cleanedRE = regexp.MustCompile(
	`cleaning up (orphaned dynamic shared memory|dynamic shared memory control segment) with ID (\d+)`)
