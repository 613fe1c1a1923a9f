package realprog

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// Debian's interpreters: python3-sysv-ipc is installed for /usr/bin/python3,
// not for another python3 that may come first on PATH.
const (
	python = "/usr/bin/python3"
	perl   = "/usr/bin/perl"
)

// C, Python (sysv_ipc) and Perl (IPC::SharedMem, core IPC::SysV) pass one
// goshm segment around, each step a new process in a fresh IPC namespace
// (a restart of everything) on the same store: each reads all the text the
// others wrote and appends a line.
func TestPythonPerlCInterop(t *testing.T) {
	testenv.RequireRoot(t)
	pyScript, err := filepath.Abs("testdata/interop.py")
	require.NoError(t, err)
	plScript, err := filepath.Abs("testdata/interop.pl")
	require.NoError(t, err)
	cProg := testenv.Artifact(t, "tests/real_interop")

	pyVer := mustRun(t, 30*time.Second, python, "--version").Stdout
	sysvVer := mustRun(t, 30*time.Second, python, pyScript, "version").Stdout
	plVer := mustRun(t, 30*time.Second, perl, "-e", "print $^V").Stdout
	plMods := mustRun(t, 30*time.Second, perl, plScript, "version").Stdout
	t.Logf("ran %s with sysv_ipc %s; perl %s with %s", strings.TrimSpace(pyVer),
		strings.TrimSpace(sysvVer), plVer, strings.TrimSpace(plMods))

	const key = "0x474f5301"
	store := testenv.NewStore(t)
	o := testenv.Opts{NewIPC: true, Preload: true, Store: store}
	c := func(mode string) []string { return []string{cProg, key, mode} }
	py := []string{python, pyScript, key, "append"}
	pl := []string{perl, plScript, key, "append"}
	steps := []struct {
		who  string
		argv []string
	}{
		{"c", c("create")}, {"python", py}, {"perl", pl}, {"c", c("append")},
		{"perl", pl}, {"python", py}, {"c", c("append")}, {"python", py}, {"perl", pl},
		{"c", c("append")},
	}
	text := ""
	for i, s := range steps {
		line := fmt.Sprintf("line %d, written by %s", i+1, s.who)
		r := testenv.Run(t, o, append(s.argv, line)...)
		require.Equal(t, 0, r.Code, "step %d (%s): %s", i+1, s.who, r)
		assert.Empty(t, r.Stderr, "step %d (%s)", i+1, s.who)
		require.Equal(t, text, r.Stdout, "step %d (%s) read something else", i+1, s.who)
		text += line + "\n"
	}
	t.Logf("after %d steps the segment holds:\n%s", len(steps), text)

	// Python removes it: gone for C, and from the store.
	r := testenv.Run(t, o, python, pyScript, key, "remove")
	require.Equal(t, 0, r.Code, r.String())
	r = testenv.Run(t, o, c("gone")...)
	require.Equal(t, 0, r.Code, r.String())
	data, other := storeFiles(t, store)
	assert.Empty(t, data)
	assert.Empty(t, other)
}
