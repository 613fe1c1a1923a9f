package main

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/goshm"
)

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		r := goshmCmd(t, nil, args...)
		assert.Equal(t, 0, r.code, "%v", args)
		assert.True(t, strings.HasPrefix(r.stdout, "Goshm is the operator's tool"), r.stdout)
		assert.Contains(t, r.stdout, "Exit status: 0 success, 1 failure")
		assert.Empty(t, r.stderr)
	}
	for name := range commands {
		if name == "help" {
			continue
		}
		for _, args := range [][]string{{name, "--help"}, {"help", name}, {"--dir", "/x", name, "-h"}} {
			r := goshmCmd(t, nil, args...)
			assert.Equal(t, 0, r.code, "%v", args)
			assert.True(t, strings.HasPrefix(r.stdout, "\tgoshm "+name), "%v: %q", args, r.stdout)
			assert.Contains(t, r.stdout, "\nExample:\n", "%v", args)
			assert.NotContains(t, r.stdout, "\n# ", "only the command's section")
		}
	}
}

func TestHelpOfHelp(t *testing.T) {
	for _, args := range [][]string{{"help", "--help"}, {"help", "help"}} {
		r := goshmCmd(t, nil, args...)
		assert.Equal(t, 0, r.code, "%v", args)
		assert.True(t, strings.HasPrefix(r.stdout, "Goshm is the operator's tool"), "%v: %s", args, r.stdout)
		assert.Empty(t, r.stderr, "%v", args)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{nil, "goshm: no command\n"},
		{[]string{"frob"}, `goshm: unknown command "frob"` + "\n"},
		{[]string{"--frob", "ls"}, "goshm: flag provided but not defined: -frob\n"},
		{[]string{"ls", "extra"}, `goshm: ls: no arguments expected, got "extra"` + "\n"},
		{[]string{"stat"}, "goshm: stat: give one ID or --key KEY\n"},
		{[]string{"stat", "1", "2"}, "goshm: stat: give one ID or --key KEY\n"},
		{[]string{"stat", "abc"}, "goshm: stat: failed to parse argument: 'abc'\n"},
		{[]string{"rm"}, "goshm: rm: give IDs or --key KEY\n"},
		{[]string{"rm", "--key", "0xzz"}, "goshm: rm: failed to parse argument: '0xzz'\n"},
		{[]string{"rm", "-5"}, "goshm: rm: flag provided but not defined: -5\n"},
		{[]string{"run"}, "goshm: run: no command"},
		{[]string{"help", "frob"}, `goshm: help: unknown command "frob"` + "\n"},
	} {
		r := goshmCmd(t, nil, tc.args...)
		assert.Equal(t, 2, r.code, "%v", tc.args)
		assert.True(t, strings.HasPrefix(r.stderr, tc.msg), "%v: %q", tc.args, r.stderr)
		assert.Contains(t, r.stderr, "Run 'goshm help' for usage.")
		assert.Empty(t, r.stdout)
	}
}

func TestVersion(t *testing.T) {
	lib := builtLib(t)
	r := goshmCmd(t, map[string]string{"GOSHM_LIB": lib}, "version")
	assert.Equal(t, 0, r.code)
	v := goshm.Version() // the engine's, from include/goshm.h
	require.Regexp(t, `^\d+\.\d+\.\d+$`, v)
	assert.Regexp(t, `^goshm `+regexp.QuoteMeta(v)+` \(go1\.\d+\S* linux/\w+\)\n`+
		`library `+regexp.QuoteMeta(lib)+`: C build \(no Go runtime\)\n$`, r.stdout)
	r = goshmCmd(t, nil, "version", "--json", "--lib", builtGoLib(t))
	assert.Equal(t, 0, r.code)
	var out map[string]string
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &out), r.stdout)
	assert.Equal(t, v, out["version"])
	assert.Equal(t, builtGoLib(t), out["library"])
	assert.Equal(t, "Go c-shared build (carries a Go runtime)", out["library_build"])

	// No library found is said, and is no failure of version.
	r = goshmCmdSelf(t, filepath.Join(t.TempDir(), "goshm"), nil, "version")
	assert.Equal(t, 0, r.code)
	if !systemLib("libgoshm.so") {
		assert.Contains(t, r.stdout, "\nlibrary: libgoshm.so not found (looked in ")
	}
}
