package interop

import (
	"bufio"
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// poke drives build/tests/shmpoke, a C process that makes System V calls
// one line at a time.
type poke struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
	close func()
}

func startPoke(t *testing.T, o testenv.Opts) *poke {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	argv := []string{testenv.Artifact(t, "tests/shmpoke")}
	if o.Preload && o.UID != 0 {
		// Preload shmpoke only, not setpriv: under libgoshm-go.so
		// setpriv aborts (glibc's setxid broadcast reaches the library's
		// Go runtime threads, which lack the capabilities setpriv
		// restored on its own thread only).
		o.Preload = false
		argv = append([]string{"env", "LD_PRELOAD=" + testenv.Lib(t)}, argv...)
	}
	cmd := testenv.Command(t, ctx, o, argv...)
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &poke{cmd: cmd, in: in, out: bufio.NewReader(out)}
	done := false
	p.close = func() {
		if !done {
			done = true
			in.Close()
			cmd.Wait()
			cancel()
		}
	}
	t.Cleanup(p.close)
	require.Equal(t, "ready", p.line(t))
	return p
}

func (p *poke) line(t *testing.T) string {
	t.Helper()
	s, err := p.out.ReadString('\n')
	require.NoError(t, err)
	return strings.TrimSuffix(s, "\n")
}

// do sends one command and returns its answer; an "ERR" answer fails.
func (p *poke) do(t *testing.T, cmd string) string {
	t.Helper()
	_, err := io.WriteString(p.in, cmd+"\n")
	require.NoError(t, err)
	ans := p.line(t)
	require.False(t, strings.HasPrefix(ans, "ERR"), "%s: %s", cmd, ans)
	return ans
}
