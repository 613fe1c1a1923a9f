package integration

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// A segment can be attached from at most 8 IPC namespaces at a time
// (docs/DIFFERENCES.md, Ids and limits): the 9th attach fails with ENOMEM
// and one line on stderr, every attach of the 8 is counted, and once one
// of them has detached and its process ended the 9th namespace gets its
// attach.
func TestNinthNamespaceAttach(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/ctr_shmsh")
	store := testenv.NewStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := testenv.Opts{Preload: true, NewIPC: true, Store: store}

	type session struct {
		in   io.WriteCloser
		out  *bufio.Scanner
		done chan struct{} // closed when the process has exited
	}
	var held []session
	for i := 0; i < 8; i++ {
		cmd := testenv.Command(t, ctx, opts, prog, "-c", "4096", "0x6e73")
		in, err := cmd.StdinPipe()
		require.NoError(t, err)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		t.Cleanup(func() { in.Close(); <-done })
		s := session{in, bufio.NewScanner(out), done}
		require.True(t, s.out.Scan(), "session %d printed nothing", i)
		require.True(t, strings.HasPrefix(s.out.Text(), "id "), "session %d: %s", i, s.out.Text())
		held = append(held, s)
	}
	ask := func(s session, cmd string) string {
		_, err := io.WriteString(s.in, cmd+"\n")
		require.NoError(t, err)
		require.True(t, s.out.Scan())
		return s.out.Text()
	}
	assert.Equal(t, "nattch 8 segsz 4096", ask(held[0], "s"))

	ninth := testenv.Run(t, testenv.Opts{Preload: true, NewIPC: true, Store: store, Stdin: "q\n"}, prog, "0x6e73")
	assert.Equal(t, 2, ninth.Code, ninth.String())
	assert.Equal(t, "shmat: ENOMEM\n", ninth.Stdout)
	assert.Contains(t, ninth.Stderr, "a segment is attached from 8 IPC namespaces already")

	held[7].in.Close() // "q": detach and exit
	for i := 0; ask(held[0], "s") != "nattch 7 segsz 4096" && i < 100; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	assert.Equal(t, "nattch 7 segsz 4096", ask(held[0], "s"))
	// The namespace's slot is free once no process there maps the
	// segment's token: a process keeps it after its last detach, until it
	// exits (docs/DIFFERENCES.md, Ids and limits).
	<-held[7].done
	again := testenv.Run(t, testenv.Opts{Preload: true, NewIPC: true, Store: store, Stdin: "s\nq\n"}, prog, "0x6e73")
	require.Equal(t, 0, again.Code, again.String())
	assert.Contains(t, again.Stdout, "nattch 8 segsz 4096")
}
