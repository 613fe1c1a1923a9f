package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// demo runs the dispatcher in this process.
func demo(args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	code = exitCode(shmdemo(args, &out), &errb)
	return out.String(), errb.String(), code
}

func TestMmapDemosInProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shm.txt")
	out, errs, code := demo("mmap-wr", path)
	require.Equal(t, 0, code, errs)
	assert.Equal(t, "Mmap Share Memory Create and Write Ok\n", out)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, int64(501), fi.Size(), "a byte at offset 500, as the original writes")
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	out, errs, code = demo("mmap-rd", path)
	require.Equal(t, 0, code, errs)
	assert.Equal(t, "a b c d e f g h i j k l m n o p q r s t u v w x y z \nMmap Share Memory Read Ok\n", out)

	out, errs, code = demo("mmap-rd", path+".missing")
	assert.Equal(t, 1, code)
	assert.Equal(t, "Mmap Share Memory Read Error: -1\n", out)
	assert.Equal(t, "shmdemo: open "+path+".missing: no such file or directory\n", errs)
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"systemv-rd", "-h"}} {
		out, errs, code := demo(args...)
		assert.Equal(t, 0, code, "%v", args)
		assert.True(t, strings.HasPrefix(out, "Shmdemo runs the four demos"), out)
		assert.Contains(t, out, "Exit status: 0 success, 1 failure, 2 usage error.")
		assert.Empty(t, errs)
	}
	for _, args := range [][]string{nil, {"bogus"}, {"systemv-rd", "x"}, {"mmap-wr", "a", "b"}} {
		out, errs, code := demo(args...)
		assert.Equal(t, 2, code, "%v", args)
		assert.Empty(t, out)
		assert.Contains(t, errs, "Run 'shmdemo --help' for usage.")
	}
}
