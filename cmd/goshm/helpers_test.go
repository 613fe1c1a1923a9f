package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/goshm"
	"github.com/goshm/goshm/internal/testipc"
)

// As root, the tests run in an IPC namespace of their own
// (internal/testipc): the doctor's look at the namespace's segments sees
// only theirs, and what they leave ends with it.  With GOSHM_TEST_HELPER
// set, the test binary is instead the other process of a test.
func TestMain(m *testing.M) {
	if h := os.Getenv("GOSHM_TEST_HELPER"); h != "" {
		os.Exit(runHelper(h, os.Args[len(os.Args)-1]))
	}
	testipc.Main(m)
}

// runHelper makes, in store dir, what a test wants made by a process of
// its own -- one whose mappings the test process does not hold.
func runHelper(name, dir string) int {
	st, err := goshm.Open(dir)
	if err == nil && name == "make-sems" {
		// Sets 0x5e11 (1 semaphore), then 0x5e12 (2), mode 0600.
		if _, err = st.SemGet(0x5e11, 1, goshm.IPC_CREAT, 0o600); err == nil {
			_, err = st.SemGet(0x5e12, 2, goshm.IPC_CREAT, 0o600)
		}
	} else if err == nil {
		err = fmt.Errorf("no helper %q", name)
	}
	if err != nil {
		fmt.Println(err)
		return 1
	}
	return 0
}

// helper runs runHelper(name, dir) in a process of its own.
func helper(t *testing.T, name, dir string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], dir)
	cmd.Env = append(os.Environ(), "GOSHM_TEST_HELPER="+name)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "helper %s: %s", name, out)
}

// result is what one call of the dispatcher did.
type result struct {
	stdout, stderr string
	code           int
	exec           *execCall // what run would have exec'd
}

type execCall struct {
	path      string
	argv, env []string
}

// goshmCmd runs the dispatcher in this process with env as its whole
// environment, and with exec replaced by a recorder.
func goshmCmd(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	c := newCLI(&out, &errb)
	c.getenv = func(k string) string { return env[k] }
	c.environ = func() []string {
		var kv []string
		for k, v := range env {
			kv = append(kv, k+"="+v)
		}
		return kv
	}
	var res result
	c.exec = func(path string, argv, envv []string) error {
		res.exec = &execCall{path, argv, envv}
		return nil
	}
	res.code = c.exitCode(c.main(args))
	res.stdout, res.stderr = out.String(), errb.String()
	return res
}

// repoRoot is the directory with go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for !fileExists(filepath.Join(dir, "go.mod")) {
		require.NotEqual(t, "/", dir, "no go.mod above the test")
		dir = filepath.Dir(dir)
	}
	return dir
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// systemLib says whether a library called name is installed where run
// looks for one outside the goshm binary's own directories.
func systemLib(name string) bool {
	return fileExists("/usr/local/lib/"+name) || fileExists("/usr/lib/"+name) ||
		fileExists("/usr/lib/"+multiarch[runtime.GOARCH]+"/"+name)
}

// builtLib is build/libgoshm.so; make builds it before the tests run.
func builtLib(t *testing.T) string { return built(t, "libgoshm.so") }

// builtGoLib is build/libgoshm-go.so, the Go-built library.
func builtGoLib(t *testing.T) string { return built(t, "libgoshm-go.so") }

func built(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(repoRoot(t), "build", name)
	require.FileExists(t, p, "run make first")
	return p
}

// newStoreDir is a path for a store that does not exist yet.
func newStoreDir(t *testing.T) string {
	t.Helper()
	parent, err := os.MkdirTemp("", "goshm-clitest-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(parent, 0o755))
	t.Cleanup(func() { os.RemoveAll(parent) })
	return filepath.Join(parent, "store")
}

func lines(s string) []string {
	return strings.Split(strings.TrimRight(s, "\n"), "\n")
}
