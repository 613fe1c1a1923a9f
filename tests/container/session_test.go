package container

import (
	"bufio"
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// shmSession is a ctr_shmsh running in a container through `docker exec
// -i`: it holds an attach open while the test sends it commands.
type shmSession struct {
	t     *testing.T
	name  string
	stdin io.WriteCloser
	lines chan string
	cmd   *exec.Cmd
}

// openSession starts `ctr_shmsh args...` in ctr and returns the session
// after its first line, "id N", which is returned too.
func openSession(t *testing.T, ctr, name string, args ...string) (*shmSession, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "docker", append([]string{"exec", "-i", ctr, "ctr_shmsh"}, args...)...)
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start(), "docker exec ctr_shmsh")
	s := &shmSession{t: t, name: name, stdin: stdin, lines: make(chan string, 16), cmd: cmd}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cancel()
			<-done
		}
		cancel()
	})
	first := s.next()
	require.True(t, strings.HasPrefix(first, "id "), "%s: first line %q", name, first)
	return s, first
}

// next returns the session's next line.
func (s *shmSession) next() string {
	s.t.Helper()
	select {
	case l, ok := <-s.lines:
		require.True(s.t, ok, "%s: ctr_shmsh ended", s.name)
		return l
	case <-time.After(30 * time.Second):
		s.t.Fatalf("%s: no answer from ctr_shmsh in 30s", s.name)
		return ""
	}
}

// do sends one command and returns the one-line answer.
func (s *shmSession) do(command string) string {
	s.t.Helper()
	_, err := io.WriteString(s.stdin, command+"\n")
	require.NoError(s.t, err, "%s: sending %q", s.name, command)
	return s.next()
}

// quit detaches and ends ctr_shmsh, and waits until it has.
func (s *shmSession) quit() {
	s.t.Helper()
	_, err := io.WriteString(s.stdin, "q\n")
	require.NoError(s.t, err, "%s: sending q", s.name)
	select {
	case l, ok := <-s.lines:
		require.False(s.t, ok, "%s: unexpected line %q after q", s.name, l)
	case <-time.After(30 * time.Second):
		s.t.Fatalf("%s: ctr_shmsh did not end in 30s", s.name)
	}
	err = s.cmd.Wait()
	require.NoError(s.t, err, "%s: ctr_shmsh failed", s.name)
}
