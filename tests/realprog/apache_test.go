package realprog

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// apacheConf is a minimal prefork httpd with two listeners, so that its
// children serialise accept() with the accept mutex, and every mutex a
// System V semaphore (Mutex sysvsem default).  Children run as www-data.
const apacheConf = `ServerRoot %[1]s
LoadModule mpm_prefork_module /usr/lib/apache2/modules/mod_mpm_prefork.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
Listen 127.0.0.1:%[2]d
Listen 127.0.0.1:%[3]d
ServerName localhost
PidFile %[1]s/httpd.pid
ErrorLog %[1]s/error.log
DocumentRoot %[1]s/htdocs
User www-data
Group www-data
Mutex sysvsem default
StartServers 4
MinSpareServers 2
MaxSpareServers 6
`

// freePort is a TCP port on 127.0.0.1 that nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// apacheSets lists the store's semaphore sets as goshm ls --sem --json does.
type apacheSet struct {
	SemID int    `json:"semid"`
	UID   uint32 `json:"uid"`
	Otime int64  `json:"otime"`
}

func apacheSets(t *testing.T, store string) []apacheSet {
	t.Helper()
	r := mustRun(t, 30*time.Second, testenv.Artifact(t, "goshm"), "ls", "--sem", "--json", "--dir", store)
	var sets []apacheSet
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &sets), r.Stdout)
	return sets
}

// ab runs ApacheBench against port and returns its complete and failed
// request counts.
func ab(t *testing.T, port, requests int, extra ...string) (complete, failed int, out string) {
	t.Helper()
	argv := append([]string{"ab", "-q", "-s", "20", "-n", fmt.Sprint(requests), "-c", "8"}, extra...)
	argv = append(argv, fmt.Sprintf("http://127.0.0.1:%d/index.html", port))
	r := run(t, 2*time.Minute, argv...)
	out = r.Stdout + r.Stderr
	fmt.Sscanf(regexp.MustCompile(`Complete requests:\s+\d+`).FindString(out), "Complete requests: %d", &complete)
	fmt.Sscanf(regexp.MustCompile(`Failed requests:\s+\d+`).FindString(out), "Failed requests: %d", &failed)
	return complete, failed, out
}

func waitServing(t *testing.T, port int, p *proc) {
	t.Helper()
	require.Eventually(t, func() bool {
		if p.exited() {
			return true
		}
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/index.html", port))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 30*time.Second, 100*time.Millisecond)
	require.False(t, p.exited(), "httpd ended:\n%s", p.output(t))
}

// Apache httpd (Debian's apache2, prefork) with `Mutex sysvsem default`:
// its accept mutex is a System V semaphore that children take with
// SEM_UNDO.  Under goshm the set lives in the store, not the kernel; the
// server serves under load while children are SIGKILLed (holding the
// mutex or not: SEM_UNDO must release it, or every child blocks); a
// server killed whole leaves its set in the store, as on a host until
// reboot, and a new server in a fresh IPC namespace (a restarted
// container) starts, serves and removes its own set when stopped.
func TestApacheSysvsemMutex(t *testing.T) {
	testenv.RequireRoot(t)
	lookupAccount(t, "www-data")
	v := run(t, 30*time.Second, "/usr/sbin/apache2", "-v")
	require.Equal(t, 0, v.Code, "apache2 (Debian's apache2 package): %s", v)
	t.Logf("ran %s", strings.SplitN(strings.TrimSpace(v.Stdout), "\n", 2)[0])

	dir := workDir(t)
	require.NoError(t, os.Mkdir(filepath.Join(dir, "htdocs"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "htdocs/index.html"), []byte("hello\n"), 0o644))
	p1, p2 := freePort(t), freePort(t)
	conf := filepath.Join(dir, "httpd.conf")
	require.NoError(t, os.WriteFile(conf, []byte(fmt.Sprintf(apacheConf, dir, p1, p2)), 0o644))
	store := testenv.NewStore(t)
	httpd := []string{"/usr/sbin/apache2", "-f", conf, "-DFOREGROUND"}
	// httpd stops its children by signalling its process group: a session
	// of its own keeps this test out of it (setsid execs, the pid stays).
	session := []string{"setsid"}

	// First life: load, with children killed under it.
	ns := newIPCNS(t)
	srv := start(t, filepath.Join(dir, "httpd1.log"), cat(session, ns.enter(), shimEnv(t, store), httpd)...)
	waitServing(t, p1, srv)
	done := make(chan struct{})
	go func() { // load while children die; -r: a request cut by a kill is not fatal
		defer close(done)
		_ = exec.Command("ab", "-q", "-r", "-s", "20", "-n", "4000", "-c", "8",
			fmt.Sprintf("http://127.0.0.1:%d/index.html", p1)).Run()
	}()
	killed := 0
	for i := 0; i < 6; i++ {
		time.Sleep(150 * time.Millisecond)
		if kids := children(t, srv.pid()); len(kids) > 0 {
			if syscall.Kill(kids[i%len(kids)], syscall.SIGKILL) == nil {
				killed++
			}
		}
	}
	<-done
	require.Positive(t, killed, "no child to kill")
	for _, port := range []int{p1, p2} {
		complete, failed, out := ab(t, port, 1500)
		assert.Equal(t, 1500, complete, "after %d children were killed, port %d:\n%s", killed, port, out)
		assert.Zero(t, failed, out)
	}
	sets := apacheSets(t, store)
	require.Len(t, sets, 1, "httpd's accept mutex in the store")
	www := lookupAccount(t, "www-data")
	assert.Equal(t, uint32(www.uid), sets[0].UID, "httpd gave its set to its User (IPC_SET)")
	assert.Positive(t, sets[0].Otime, "the children locked the mutex (semop)")
	kernel := mustRun(t, 30*time.Second, cat(ns.enter(), []string{"ipcs", "-s"})...).Stdout
	assert.NotRegexp(t, `0x[0-9a-f]+\s+\d+\s+\S+\s+\d+\s+\d+`, kernel, "a set in the kernel")
	t.Logf("first server: %d children killed under load, then 3000 requests served on two listeners", killed)

	// The container dies: every httpd process killed at once.
	kids := children(t, srv.pid())
	require.NoError(t, syscall.Kill(srv.pid(), syscall.SIGKILL))
	for _, k := range kids {
		_ = syscall.Kill(k, syscall.SIGKILL)
	}
	srv.wait(t, 30*time.Second)
	for _, k := range kids {
		waitGone(t, k, 30*time.Second)
	}
	_ = os.Remove(filepath.Join(dir, "httpd.pid"))

	// Second life, in a fresh IPC namespace: it starts, serves and, when
	// stopped, removes its own set; the killed server's stays.
	ns2 := newIPCNS(t)
	srv2 := start(t, filepath.Join(dir, "httpd2.log"), cat(session, ns2.enter(), shimEnv(t, store), httpd)...)
	waitServing(t, p2, srv2)
	complete, failed, out := ab(t, p2, 2000)
	assert.Equal(t, 2000, complete, out)
	assert.Zero(t, failed, out)
	require.Len(t, apacheSets(t, store), 2, "the killed server's set and the new one")
	require.NoError(t, syscall.Kill(srv2.pid(), syscall.SIGTERM))
	srv2.wait(t, 60*time.Second)
	left := apacheSets(t, store)
	require.Len(t, left, 1, "a stopped httpd removes its set (IPC_RMID)")
	assert.Equal(t, sets[0].SemID, left[0].SemID, "what stays is the killed server's set")
}
