// Package install checks goshm as operators install it: `make install`
// and `make uninstall` against CMake's install, the man pages and the
// bash completion against `goshm help`, the Debian package of `make deb`
// (lintian, its contents, its version), that package installed with apt
// in a clean Debian 12 container built by debootstrap, and
// `go install github.com/goshm/goshm/cmd/goshm@VERSION`.
package install

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// run runs name with args in dir (the repository when empty), with env
// added, and fails the test with its output unless it succeeds; it
// returns standard output.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	if dir == "" {
		dir = testenv.Root(t)
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	require.NoError(t, err, "%s %s:\n%s%s", name, strings.Join(args, " "), out.String(), errb.String())
	return out.String()
}

// requireTools fails the test, saying which Debian package to install,
// when a tool is missing (scripts/test-deps.sh installs them all).
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	pkg := map[string]string{
		"cmake": "cmake", "make": "make", "gcc": "gcc", "mandoc": "mandoc", "man": "man-db",
		"lintian": "lintian", "dpkg-deb": "dpkg", "dpkg-shlibdeps": "dpkg-dev",
		"debootstrap": "debootstrap", "bash": "bash", "pkg-config": "pkg-config",
	}
	for _, tool := range tools {
		_, err := exec.LookPath(tool)
		require.NoError(t, err, "this test needs %s (Debian package %s; scripts/test-deps.sh installs it)",
			tool, pkg[tool])
	}
}

// goshmVersion is the version `goshm version` prints (its second word).
func goshmVersion(t *testing.T) string {
	t.Helper()
	out := run(t, "", nil, testenv.Artifact(t, "goshm"), "version")
	fields := strings.Fields(out)
	require.GreaterOrEqual(t, len(fields), 2, "goshm version: %q", out)
	return fields[1]
}

// makeCmd is make, as `make test` runs it ($MAKE when set).
func makeCmd() string {
	if m := os.Getenv("MAKE"); m != "" {
		return m
	}
	return "make"
}

// goCmd is the go command that built the tests.
func goCmd(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	p = "/usr/local/go/bin/go"
	_, err := os.Stat(p)
	require.NoError(t, err, "no go command on PATH")
	return p
}
