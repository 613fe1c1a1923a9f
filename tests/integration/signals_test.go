package integration

import (
	"bufio"
	"context"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// A program that blocks SIGTERM to read it from a signalfd must get it
// with either library preloaded.  libgoshm.so starts no thread; the
// dormant Go runtime's threads of libgoshm-go.so block every signal a
// program can take (capi/runtime_threads.c), so the kernel cannot hand the
// signal to one of them, where its default action would kill the program.
func TestPreloadedSignalfdServerGetsSIGTERM(t *testing.T) {
	prog := testenv.Artifact(t, "tests/ctr_signalfd")
	for _, c := range []struct{ name, lib string }{
		{"native", ""},
		{testenv.CLibName, testenv.CLib(t)},
		{testenv.GoLibName, testenv.GoLib(t)},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := testenv.Opts{Preload: c.lib != "", Lib: c.lib, Store: testenv.NewStore(t)}
			rest, err := sigtermWhenReady(t, o, prog)
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				t.Fatalf("exit status %v (killed by the signal instead of reading it)", ee.ProcessState)
			}
			require.NoError(t, err)
			assert.Contains(t, rest, "graceful shutdown 15")
		})
	}
}

// sigtermWhenReady runs argv under o, sends it SIGTERM once it has printed
// "ready", and returns what it printed after that and how Wait ended.
func sigtermWhenReady(t *testing.T, o testenv.Opts, argv ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := testenv.Command(t, ctx, o, argv...)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	lines := bufio.NewScanner(out)
	require.True(t, lines.Scan(), "no output")
	require.Equal(t, "ready", lines.Text())
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	var rest strings.Builder
	for lines.Scan() {
		rest.WriteString(lines.Text() + "\n")
	}
	return rest.String(), cmd.Wait()
}
