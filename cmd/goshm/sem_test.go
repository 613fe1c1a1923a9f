package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/goshm"
)

// goshm ls shows a store's semaphore sets after its segments, as ipcs -s
// does; ls --sem --json lists them alone; rm --sem and --sem-key remove
// them as ipcrm -s and -S do.
func TestSemSetsListedAndRemoved(t *testing.T) {
	dir := newStoreDir(t)
	st, err := goshm.Open(dir)
	require.NoError(t, err)
	a, err := st.SemGet(0x5e01, 3, goshm.IPC_CREAT, 0o640)
	require.NoError(t, err)
	b, err := st.SemGet(0x5e02, 1, goshm.IPC_CREAT, 0o600)
	require.NoError(t, err)

	r := goshmCmd(t, nil, "ls", "--dir", dir)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "------ Semaphore Arrays in "+dir+" --------")
	assert.Regexp(t, `0x00005e01 \d+\s+root\s+640\s+3\s+0,0,0`, r.stdout)
	assert.Regexp(t, `0x00005e02 \d+\s+root\s+600\s+1\s+0`, r.stdout)

	r = goshmCmd(t, nil, "ls", "--sem", "--json", "--dir", dir)
	require.Equal(t, 0, r.code, r.stderr)
	var sets []semJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &sets))
	require.Len(t, sets, 2)
	assert.Equal(t, a.ID(), sets[0].SemID)
	assert.Equal(t, "0x00005e01", sets[0].Key)
	assert.Equal(t, []uint16{0, 0, 0}, sets[0].Values)

	r = goshmCmd(t, nil, "rm", "--dir", dir, "--sem", "999", "--sem-key", "0x5e01")
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "goshm: invalid id (999)\n", r.stderr)
	r = goshmCmd(t, nil, "rm", "--dir", dir, "--sem", strconv.Itoa(b.ID()))
	require.Equal(t, 0, r.code, r.stderr)
	sl, err := st.SemSets()
	require.NoError(t, err)
	assert.Empty(t, sl, "both sets removed")

	checks, r := doctorRun(t, map[string]string{"GOSHM_DIR": dir})
	assert.Equal(t, statusOK, checks["semaphores"].Status, r.stdout)
	assert.Equal(t, "served from the store (GOSHM_SEM=0 leaves them to the kernel); 0 set(s) in the store",
		checks["semaphores"].Message)
	checks, _ = doctorRun(t, map[string]string{"GOSHM_DIR": dir, "GOSHM_SEM": "0"})
	assert.Equal(t, "left to the kernel (GOSHM_SEM=0); 0 set(s) in the store", checks["semaphores"].Message)
	_, err = st.SemGet(0x5e01, 0, 0, 0)
	assert.ErrorContains(t, err, "no such file")
}

// A set whose file is gone (a damaged store): goshm ls lists the others,
// names the damaged one and exits 1; root removes it by key -- its
// permission bits went with its file -- and the key is free again.
func TestDamagedSemSetListedAndRemoved(t *testing.T) {
	dir := newStoreDir(t)
	// Made by another process: this one must not hold their mappings,
	// which would keep serving a set whose file is gone.
	helper(t, "make-sems", dir)
	st, err := goshm.Open(dir)
	require.NoError(t, err)
	// The first set made has the lower generation: sem/set-<gen>.
	files, err := filepath.Glob(filepath.Join(dir, "sem", "set-*"))
	require.NoError(t, err)
	require.Len(t, files, 2)
	gen := func(f string) int {
		n, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(f), "set-"))
		require.NoError(t, err)
		return n
	}
	first := files[0]
	if gen(files[1]) < gen(first) {
		first = files[1]
	}
	require.NoError(t, os.Remove(first))

	sets, err := st.SemSets()
	require.ErrorIs(t, err, syscall.EIO)
	require.Len(t, sets, 1, "the readable set is still listed")
	assert.Equal(t, 0x5e12, sets[0].Key)

	r := goshmCmd(t, nil, "ls", "--sem", "--dir", dir)
	assert.Equal(t, 1, r.code)
	assert.Regexp(t, `0x00005e12 \d+\s+root\s+600\s+2\s+0,0`, r.stdout)
	assert.NotContains(t, r.stdout, "0x00005e11")
	assert.Contains(t, r.stderr, "goshm: damaged semaphore set, not listed: ")
	assert.Contains(t, r.stderr, "input/output error")

	r = goshmCmd(t, nil, "ls", "--dir", dir)
	assert.Equal(t, 1, r.code)
	assert.Regexp(t, `0x00005e12 \d+\s+root\s+600\s+2\s+0,0`, r.stdout, "after the segments")
	assert.Contains(t, r.stderr, "goshm: damaged semaphore set, not listed: ")

	r = goshmCmd(t, nil, "rm", "--dir", dir, "--sem-key", "0x5e11")
	require.Equal(t, 0, r.code, r.stderr)
	r = goshmCmd(t, nil, "ls", "--sem", "--dir", dir)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Empty(t, r.stderr)
	_, err = st.SemGet(0x5e11, 1, goshm.IPC_CREAT|goshm.IPC_EXCL, 0o600)
	assert.NoError(t, err, "the key is free")
}

// goshm stat --sem prints one set as ipcs -s -i does, by id or by key.
func TestSemStat(t *testing.T) {
	dir := newStoreDir(t)
	st, err := goshm.Open(dir)
	require.NoError(t, err)
	ss, err := st.SemGet(0x5e03, 2, goshm.IPC_CREAT, 0o600)
	require.NoError(t, err)

	r := goshmCmd(t, nil, "stat", "--sem", "--key", "0x5e03", "--dir", dir)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Semaphore Array semid="+strconv.Itoa(ss.ID())+"\n")
	assert.Contains(t, r.stdout, "nsems = 2\notime = Not set\n")
	assert.Regexp(t, `(?m)^1\s+0\s+0\s+0\s+0\s*$`, r.stdout)

	r = goshmCmd(t, nil, "stat", "--sem", strconv.Itoa(ss.ID()+1), "--dir", dir)
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "goshm: stat: invalid id ("+strconv.Itoa(ss.ID()+1)+")\n", r.stderr)
	r = goshmCmd(t, nil, "stat", "--sem", "--key", "0x5e04", "--dir", dir)
	assert.Equal(t, "goshm: stat: invalid key (0x5e04)\n", r.stderr)
}

// goshm gc removes set files that no set of sem/registry names, and
// nothing else of sem/.
func TestSemGC(t *testing.T) {
	dir := newStoreDir(t)
	st, err := goshm.Open(dir)
	require.NoError(t, err)
	ss, err := st.SemGet(0x5e05, 1, goshm.IPC_CREAT, 0o600)
	require.NoError(t, err)
	entries, err := os.ReadDir(filepath.Join(dir, "sem"))
	require.NoError(t, err)
	var live string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "set-") {
			live = e.Name()
		}
	}
	require.NotEmpty(t, live)
	stray := filepath.Join(dir, "sem", "set-999")
	require.NoError(t, os.WriteFile(stray, []byte("x"), 0o600))

	r := goshmCmd(t, nil, "gc", "--dry-run", "--dir", dir)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "would remove file "+stray+"\n", r.stdout)
	assert.FileExists(t, stray)
	r = goshmCmd(t, nil, "gc", "--dir", dir)
	require.Equal(t, 0, r.code, r.stderr)
	assert.NoFileExists(t, stray)
	assert.FileExists(t, filepath.Join(dir, "sem", live))
	_, err = ss.Stat()
	require.NoError(t, err, "the live set survives gc")
}
