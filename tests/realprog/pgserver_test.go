package realprog

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// PostgreSQL 15 as Debian installs it.
const pgBin = "/usr/lib/postgresql/15/bin"

// pgShmOpts put PostgreSQL's whole shared memory in System V segments:
// the main segment (shared buffers and all) and the dynamic segments of
// parallel queries.  By default PostgreSQL uses anonymous mmap for the
// first and POSIX shm for the second, and only a tiny System V segment.
var pgShmOpts = []string{"-c", "shared_memory_type=sysv", "-c", "dynamic_shared_memory_type=sysv"}

// pgCluster is a data directory, its socket directory and its goshm store.
type pgCluster struct {
	t     *testing.T
	dir   string // world-enterable work directory
	data  string
	sock  string
	store string
	lib   string // a copy of the library under test that the postgres user can read
	port  int
	pg    account
}

func newPGCluster(t *testing.T) *pgCluster {
	t.Helper()
	testenv.RequireRoot(t)
	dir := workDir(t)
	c := &pgCluster{t: t, dir: dir, data: filepath.Join(dir, "data"),
		sock: filepath.Join(dir, "sock"), store: filepath.Join(dir, "store"),
		port: 5432, pg: lookupAccount(t, "postgres")}
	c.lib = copyLib(t, dir)
	require.NoError(t, os.Mkdir(c.data, 0o700))
	require.NoError(t, os.Mkdir(c.sock, 0o755))
	c.pg.chown(t, c.data, c.sock)
	// The store as goshm creates it by default: mode 1777 like /dev/shm.
	require.NoError(t, os.Mkdir(c.store, 0o755))
	require.NoError(t, os.Chmod(c.store, 0o1777))
	return c
}

func pgVersion(t *testing.T) string {
	r := mustRun(t, 30*time.Second, filepath.Join(pgBin, "postgres"), "--version")
	return strings.TrimSpace(r.Stdout)
}

// initdb creates the cluster, itself under goshm (its bootstrap and
// single-user backends create System V segments too), in the namespace
// that enter leads into.
func (c *pgCluster) initdb(enter []string) {
	t := c.t
	t.Helper()
	mustRun(t, 3*time.Minute, cat(enter, c.pg.as(), shimEnvWith(c.lib, c.store), []string{
		filepath.Join(pgBin, "initdb"), "-D", c.data, "-A", "trust", "-U", "postgres",
		"--no-sync", "--locale=C", "-E", "UTF8"})...)
	conf := fmt.Sprintf("\n# goshm tests\nlisten_addresses = ''\n"+
		"unix_socket_directories = '%s'\nport = %d\nshared_buffers = 128MB\n"+
		"logging_collector = off\nlog_checkpoints = on\n", c.sock, c.port)
	f, err := os.OpenFile(filepath.Join(c.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(conf)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}

// postmasterArgv is the server's command line under goshm.
func (c *pgCluster) postmasterArgv() []string {
	return cat(c.pg.as(), shimEnvWith(c.lib, c.store),
		[]string{filepath.Join(pgBin, "postgres"), "-D", c.data}, pgShmOpts)
}

// pgServer is a running postmaster, or the process that runs it.
type pgServer struct {
	c         *pgCluster
	proc      *proc
	container bool // proc is unshare, with real_init and then the postmaster under it
}

var logSeq int

func (c *pgCluster) newLog(what string) string {
	logSeq++
	return filepath.Join(c.dir, fmt.Sprintf("%s-%d.log", what, logSeq))
}

// start runs the server in the namespace that enter leads into, and waits
// until it accepts connections.
func (c *pgCluster) start(enter []string) *pgServer {
	c.t.Helper()
	s := &pgServer{c: c, proc: start(c.t, c.newLog("server"), cat(enter, c.postmasterArgv())...)}
	s.waitReady()
	return s
}

// startContainer runs the server in a fresh IPC and PID namespace whose
// init is real_init, as a container runtime would.
func (c *pgCluster) startContainer() *pgServer {
	c.t.Helper()
	// --kill-child: if the test kills unshare (its cleanup does), the
	// init dies too, and with it the whole container.
	argv := cat([]string{"unshare", "--ipc", "--pid", "--fork", "--mount-proc",
		"--kill-child=SIGKILL", testenv.Artifact(c.t, "tests/real_init")}, c.postmasterArgv())
	s := &pgServer{c: c, proc: start(c.t, c.newLog("container"), argv...), container: true}
	s.waitReady()
	return s
}

func (s *pgServer) waitReady() {
	t := s.c.t
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if s.proc.exited() {
			t.Fatalf("the server exited while starting:\n%s", s.proc.output(t))
		}
		r := run(t, 10*time.Second, filepath.Join(pgBin, "pg_isready"), "-q", "-U", "postgres",
			"-h", s.c.sock, "-p", strconv.Itoa(s.c.port))
		if r.Code == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("the server did not accept connections in time:\n%s", s.proc.output(t))
}

// initPid is the host pid of the container's init (the child of unshare).
func (s *pgServer) initPid() int {
	t := s.c.t
	t.Helper()
	var kids []int
	require.Eventually(t, func() bool {
		kids = children(t, s.proc.pid())
		return len(kids) == 1
	}, 10*time.Second, 10*time.Millisecond)
	return kids[0]
}

// enterContainer is the argv prefix that runs a program in the
// container's IPC namespace.
func (s *pgServer) enterContainer() []string {
	return []string{"nsenter", "-t", strconv.Itoa(s.initPid()), "--ipc", "--"}
}

// stop asks for a fast shutdown (SIGINT) and waits for a clean exit.
func (s *pgServer) stop() {
	t := s.c.t
	t.Helper()
	pid := s.proc.pid()
	if s.container {
		pid = s.initPid() // which forwards it to the postmaster
	}
	require.NoError(t, syscall.Kill(pid, syscall.SIGINT))
	code := s.proc.wait(t, 2*time.Minute)
	log := s.proc.output(t)
	require.Equal(t, 0, code, log)
	require.Contains(t, log, "database system is shut down")
}

// psql runs SQL (one -c per statement, in order) and returns the output of
// the last, unaligned and without headers.
func (c *pgCluster) psql(sql ...string) (string, error) {
	argv := []string{"psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-h", c.sock, "-p", strconv.Itoa(c.port), "-U", "postgres", "-d", "postgres"}
	for _, s := range sql {
		argv = append(argv, "-c", s)
	}
	r := run(c.t, 2*time.Minute, argv...)
	if r.Code != 0 {
		return "", fmt.Errorf("psql %q: %s", sql, r)
	}
	return strings.TrimSpace(r.Stdout), nil
}

func (c *pgCluster) mustPsql(sql ...string) string {
	c.t.Helper()
	out, err := c.psql(sql...)
	require.NoError(c.t, err)
	return out
}

// pgbench runs pgbench with args against the cluster.
func (c *pgCluster) pgbench(timeout time.Duration, args ...string) testenv.Result {
	c.t.Helper()
	argv := cat([]string{"pgbench", "-h", c.sock, "-p", strconv.Itoa(c.port), "-U", "postgres"},
		args, []string{"postgres"})
	return run(c.t, timeout, argv...)
}

// pidFileKey reads the key and id of the main segment from postmaster.pid
// (its 7th line: "KEY ID").
func (c *pgCluster) pidFileKey() (key uint32, id int) {
	t := c.t
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.data, "postmaster.pid"))
	require.NoError(t, err)
	lines := strings.Split(string(b), "\n")
	require.GreaterOrEqual(t, len(lines), 7, string(b))
	f := strings.Fields(lines[6])
	require.Len(t, f, 2, string(b))
	k, err := strconv.ParseUint(f[0], 10, 32)
	require.NoError(t, err)
	id, err = strconv.Atoi(f[1])
	require.NoError(t, err)
	return uint32(k), id
}
