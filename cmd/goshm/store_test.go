package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/goshm"
)

// fixture is a store with segments whose every field the tests know.
type fixture struct {
	dir           string
	st            *goshm.Store
	plain, locked *goshm.Segment
	dest          *goshm.Segment // removed while attached
	attach        []byte
	env           map[string]string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dir: newStoreDir(t)}
	var err error
	f.st, err = goshm.Open(f.dir)
	require.NoError(t, err)
	f.plain, err = f.st.Get(0x162e, 27, goshm.IPC_CREAT, 0o666)
	require.NoError(t, err)
	f.locked, err = f.st.Get(0x7fffffff, 5000, goshm.IPC_CREAT, 0o640)
	require.NoError(t, err)
	require.NoError(t, f.locked.Lock())
	f.dest, err = f.st.Get(0x42, 8192, goshm.IPC_CREAT, 0o600)
	require.NoError(t, err)
	f.attach, err = f.dest.Attach(0)
	require.NoError(t, err)
	require.NoError(t, f.dest.Remove())
	t.Cleanup(func() { f.dest.Detach(f.attach) })
	f.env = map[string]string{"GOSHM_DIR": f.dir}
	return f
}

func rootName(t *testing.T) string {
	u, err := user.LookupId(strconv.Itoa(os.Geteuid()))
	require.NoError(t, err)
	return u.Username
}

func TestLs(t *testing.T) {
	f := newFixture(t)
	r := goshmCmd(t, f.env, "ls")
	require.Equal(t, 0, r.code, r.stderr)
	me := rootName(t)
	assert.Equal(t, []string{
		"------ Shared Memory Segments in " + f.dir + " --------",
		"key        shmid      owner      perms      bytes      nattch     status      ",
		fmt.Sprintf("0x0000162e 0          %-10s 666        27         0                       ", me),
		fmt.Sprintf("0x7fffffff 1          %-10s 640        5000       0                 locked", me),
		fmt.Sprintf("0x00000000 2          %-10s 600        8192       1          dest         ", me),
	}, lines(r.stdout))

	// --dir wins over GOSHM_DIR, before or after the command.
	other := newStoreDir(t)
	require.NoError(t, os.MkdirAll(other, 0o755))
	for _, args := range [][]string{{"--dir", other, "ls"}, {"ls", "--dir=" + other}} {
		r = goshmCmd(t, f.env, args...)
		require.Equal(t, 0, r.code, r.stderr)
		assert.Len(t, lines(r.stdout), 2, "a store without a registry has no segments")
	}
}

func TestLsJSON(t *testing.T) {
	f := newFixture(t)
	r := goshmCmd(t, f.env, "ls", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var got []segmentJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
	require.Len(t, got, 3)
	for i, seg := range []*goshm.Segment{f.plain, f.locked, f.dest} {
		s, err := seg.Stat()
		require.NoError(t, err)
		assert.Equal(t, toJSON(s), got[i])
	}
	assert.Equal(t, "0x0000162e", got[0].KeyHex)
	assert.Equal(t, 0x162e, got[0].Key)
	assert.Equal(t, uint64(27), got[0].Bytes)
	assert.Equal(t, os.Getpid(), got[0].CPID)
	assert.True(t, got[1].Locked)
	assert.True(t, got[2].Dest)
	assert.Equal(t, uint64(1), got[2].Nattch)
	assert.NotZero(t, got[2].Atime)
	assert.Zero(t, got[0].Atime, "never attached")
}

func TestStat(t *testing.T) {
	f := newFixture(t)
	s, err := f.dest.Stat()
	require.NoError(t, err)
	want := []string{
		"Shared memory Segment shmid=2",
		"key=0x00000000\tseq=0",
		fmt.Sprintf("uid=%d\tgid=%d\tcuid=%d\tcgid=%d", os.Geteuid(), os.Getegid(), os.Geteuid(), os.Getegid()),
		"mode=01600\taccess_perms=0600\tstatus=dest",
		fmt.Sprintf("bytes=8192\tlpid=%d\tcpid=%d\tnattch=1", os.Getpid(), os.Getpid()),
		"att_time=" + s.Atime.Format("Mon Jan _2 15:04:05 2006"),
		"det_time=Not set",
		"change_time=" + s.Ctime.Format("Mon Jan _2 15:04:05 2006"),
	}
	r := goshmCmd(t, f.env, "stat", "2")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, want, lines(r.stdout))

	r = goshmCmd(t, f.env, "stat", "--key", "0x7fffffff")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Shared memory Segment shmid=1\nkey=0x7fffffff\tseq=0\n")
	assert.Contains(t, r.stdout, "mode=02640\taccess_perms=0640\tstatus=locked\n")

	r = goshmCmd(t, f.env, "stat", "--json", "--key", "5678")
	require.Equal(t, 0, r.code, r.stderr)
	var got segmentJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
	ps, err := f.plain.Stat()
	require.NoError(t, err)
	assert.Equal(t, toJSON(ps), got)

	for args, msg := range map[string]string{
		"stat 7":           "goshm: stat: invalid id (7)\n",
		"stat 32768":       "goshm: stat: invalid id (32768)\n", // index 0 with the wrong seq
		"stat --key 0x999": "goshm: stat: invalid key (0x999)\n",
	} {
		r = goshmCmd(t, f.env, strings.Fields(args)...)
		assert.Equal(t, 1, r.code, args)
		assert.Equal(t, msg, r.stderr, args)
	}
	r = goshmCmd(t, map[string]string{"GOSHM_DIR": f.dir + "/nope"}, "stat", "0")
	assert.Equal(t, 1, r.code)
	assert.Equal(t, "goshm: store "+f.dir+"/nope does not exist (check --dir or GOSHM_DIR)\n", r.stderr)
	assert.NoDirExists(t, f.dir+"/nope", "read-only commands never create a store")
}

func TestRm(t *testing.T) {
	f := newFixture(t)
	extra, err := f.st.Get(0x500, 10, goshm.IPC_CREAT, 0o600)
	require.NoError(t, err)

	// One good id, one good key, and three failures: all reported, the
	// good ones done, exit status 1.
	r := goshmCmd(t, f.env, "rm", "0", "99", "--key", "0x500", "--key", "0x12345", "--key", "0")
	assert.Equal(t, 1, r.code)
	assert.Empty(t, r.stdout)
	assert.Equal(t, "goshm: invalid id (99)\ngoshm: invalid key (0x12345)\ngoshm: illegal key (0)\n", r.stderr)
	_, err = f.plain.Stat()
	assert.Error(t, err, "removed by id")
	_, err = extra.Stat()
	assert.Error(t, err, "removed by key")

	// An attached segment is marked dest, and its key is free at once.
	b, err := f.locked.Attach(0)
	require.NoError(t, err)
	r = goshmCmd(t, f.env, "rm", "--key", "2147483647")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Empty(t, r.stdout+r.stderr, "silent on success, like ipcrm")
	s, err := f.locked.Stat()
	require.NoError(t, err)
	assert.True(t, s.Removed())
	_, err = f.st.Get(0x7fffffff, 0, 0, 0)
	assert.Error(t, err)
	require.NoError(t, f.locked.Detach(b))

	// --json; removing a dest segment again succeeds, as IPC_RMID does.
	r = goshmCmd(t, f.env, "rm", "--json", "2", "5")
	assert.Equal(t, 1, r.code)
	var got []rmResult
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
	require.Len(t, got, 2)
	assert.Equal(t, 2, *got[0].ID)
	assert.Empty(t, got[0].Error)
	assert.Equal(t, 5, *got[1].ID)
	assert.Equal(t, "invalid id", got[1].Error)
}

func TestGC(t *testing.T) {
	f := newFixture(t)
	stray := f.dir + "/segments/.tmp-77.4242"
	token := f.dir + "/segments/seg-999.ns0.5"
	for _, p := range []string{stray, token} {
		require.NoError(t, os.WriteFile(p, nil, 0o644))
	}
	r := goshmCmd(t, f.env, "gc", "--dry-run")
	require.Equal(t, 0, r.code, r.stderr)
	got := lines(r.stdout)
	assert.ElementsMatch(t, []string{"would remove file " + stray, "would remove file " + token}, got,
		"the removed segment is still attached: never collected")
	assert.FileExists(t, stray)

	r = goshmCmd(t, f.env, "gc", "--json")
	require.Equal(t, 0, r.code, r.stderr)
	var items []gcJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &items))
	assert.ElementsMatch(t, []gcJSON{
		{Kind: "file", ID: -1, Path: stray, Removed: true},
		{Kind: "file", ID: -1, Path: token, Removed: true},
	}, items)
	assert.NoFileExists(t, stray)
	assert.NoFileExists(t, token)

	r = goshmCmd(t, f.env, "gc")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "nothing to collect in "+f.dir+"\n", r.stdout)
	s, err := f.dest.Stat()
	require.NoError(t, err, "attached and removed: left alone")
	assert.True(t, s.Removed())
	assert.WithinDuration(t, time.Now(), s.Atime, time.Minute)
}
