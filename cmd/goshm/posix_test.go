package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/goshm"
)

// A store with two POSIX objects (made through the Go API, which is
// shm_open on the store) and no System V segment, hence no registry.
func posixFixture(t *testing.T) (dir string, env map[string]string) {
	t.Helper()
	dir = newStoreDir(t)
	st, err := goshm.Open(dir)
	require.NoError(t, err)
	for name, size := range map[string]int64{"/PostgreSQL.42": 8192, "/psm_x": 100} {
		f, err := st.OpenPOSIX(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		require.NoError(t, err)
		require.NoError(t, f.Truncate(size))
		f.Close()
	}
	return dir, map[string]string{"GOSHM_DIR": dir}
}

// ls shows the objects in a table of their own, marked POSIX; --json
// gives them kind "posix".
func TestLsShowsPOSIXObjects(t *testing.T) {
	dir, env := posixFixture(t)
	r := goshmCmd(t, env, "ls")
	require.Equal(t, 0, r.code, r.stderr)
	me := rootName(t)
	assert.Equal(t, []string{
		"------ Shared Memory Segments in " + dir + " --------",
		"key        shmid      owner      perms      bytes      nattch     status      ",
		"",
		"------ POSIX Shared Memory Objects in " + dir + "/posix --------",
		"name                     owner      perms      bytes        status",
		fmt.Sprintf("/PostgreSQL.42           %-10s 600        8192         ", me),
		fmt.Sprintf("/psm_x                   %-10s 600        100          ", me),
	}, lines(r.stdout))

	r = goshmCmd(t, env, "ls", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var got []posixJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
	require.Len(t, got, 2)
	assert.Equal(t, "posix", got[0].Kind)
	assert.Equal(t, "/PostgreSQL.42", got[0].Name)
	assert.Equal(t, filepath.Join(dir, "posix", "PostgreSQL.42"), got[0].Path)
	assert.EqualValues(t, 8192, got[0].Bytes)
	assert.Equal(t, "0600", got[0].Perms)
}

func TestStatAndRmPOSIX(t *testing.T) {
	dir, env := posixFixture(t)
	r := goshmCmd(t, env, "stat", "/psm_x")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "POSIX shared memory object /psm_x\n")
	assert.Contains(t, r.stdout, "path="+filepath.Join(dir, "posix", "psm_x")+"\n")
	assert.Contains(t, r.stdout, "mode=0600\tbytes=100\n")

	r = goshmCmd(t, env, "stat", "/nothing")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "no POSIX object /nothing")

	r = goshmCmd(t, env, "rm", "/psm_x", "/nothing")
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "goshm: invalid POSIX name (/nothing)\n", r.stderr)
	_, err := os.Stat(filepath.Join(dir, "posix", "psm_x"))
	assert.True(t, os.IsNotExist(err), "rm removed /psm_x")
	_, err = os.Stat(filepath.Join(dir, "posix", "PostgreSQL.42"))
	assert.NoError(t, err, "and nothing else")
}

// gc keeps objects and removes what goshm never makes in posix/; doctor
// says so first.
func TestGCAndDoctorPOSIX(t *testing.T) {
	dir, env := posixFixture(t)
	env["GOSHM_POSIX"] = "/PostgreSQL."
	r := goshmCmd(t, env, "doctor")
	assert.Contains(t, r.stdout, "OK    posix       2 POSIX objects, 8292 bytes; serving on for names starting with /PostgreSQL.")

	link := filepath.Join(dir, "posix", "planted")
	require.NoError(t, os.Symlink("/etc/passwd", link))
	r = goshmCmd(t, env, "doctor")
	assert.Contains(t, r.stdout, "WARN  posix       1 entries of "+dir+"/posix are not objects goshm made")

	r = goshmCmd(t, env, "gc")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "removed "+link+" (in posix/, not a POSIX object goshm made)\n"+
		"kept 2 POSIX objects: they stay until shm_unlink or goshm rm /NAME\n", r.stdout)
	_, err := os.Lstat(link)
	assert.True(t, os.IsNotExist(err))
	ents, err := os.ReadDir(filepath.Join(dir, "posix"))
	require.NoError(t, err)
	assert.Len(t, ents, 2)

	require.NoError(t, os.RemoveAll(filepath.Join(dir, "posix")))
	require.NoError(t, os.Symlink(t.TempDir(), filepath.Join(dir, "posix")))
	r = goshmCmd(t, env, "doctor")
	assert.True(t, strings.Contains(r.stdout, "FAIL  posix       "+dir+"/posix is a symbolic link"), r.stdout)
}
