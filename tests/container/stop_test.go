package container

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// `docker stop` while a program is writing: ctr_counter ignores SIGTERM,
// so after the grace period the engine kills it mid-loop.  Every write it
// reported (to a file on the host, one write(2) per line) must be in the
// segment when the container starts again, and the two copies of the
// counter must show no torn write: a == b, or a == b + 1 when the kill
// fell between the two stores.
func TestDockerStopKeepsCompletedWrites(t *testing.T) {
	t.Parallel()
	testImage(t)

	t.Run("under goshm", func(t *testing.T) {
		t.Parallel()
		vol := testenv.NewVolume(t)
		last, a, b := stopDuringWrites(t, append(underGoshm(imageStore), withVolume(vol, imageStore)...))
		assert.GreaterOrEqual(t, b, last, "a reported write is missing")
		assert.LessOrEqual(t, b, last+1, "more writes than the program made")
		assert.Contains(t, []uint64{b, b + 1}, a, "torn write: a=%d b=%d", a, b)
	})

	t.Run("natively", func(t *testing.T) {
		t.Parallel()
		last, a, b := stopDuringWrites(t, nil)
		assert.Positive(t, last)
		// The kernel's segment died with the container's IPC namespace.
		assert.Equal(t, [2]uint64{0, 0}, [2]uint64{a, b})
	})
}

// stopDuringWrites runs ctr_counter as the main process of a container
// with options opts, stops it with `docker stop -t 2` in the middle of its
// loop, starts it again, and returns the last write it reported before the
// kill and the pair (a, b) it found at the new start.
func stopDuringWrites(t *testing.T, opts []string) (last, a, b uint64) {
	t.Helper()
	dir := t.TempDir()
	report := filepath.Join(dir, "report")
	opts = append(opts, "-v", dir+":/report", testImage(t),
		"ctr_counter", "-T", "-i", "500", "-o", "/report/report")
	ctr := testenv.StartContainer(t, opts...)

	eventually(t, 30*time.Second, "ctr_counter reports 100 writes", func() error {
		lines, err := reportLines(report)
		if err != nil {
			return err
		}
		if n, _ := lastWrite(lines); n < 100 {
			return fmt.Errorf("last write %d", n)
		}
		return nil
	})
	began := time.Now()
	testenv.MustDocker(t, "stop", "-t", "2", ctr)
	// Killed, not stopped: it ignored SIGTERM and wrote until SIGKILL.
	require.Equal(t, "137", inspect(t, ctr, "{{.State.ExitCode}}"))
	require.GreaterOrEqual(t, time.Since(began), 2*time.Second)

	before, err := reportLines(report)
	require.NoError(t, err)
	last, starts := lastWrite(before)
	require.Equal(t, 1, starts, "one start before the stop")
	require.Positive(t, last)

	testenv.MustDocker(t, "start", ctr)
	var start string
	eventually(t, 30*time.Second, "ctr_counter reports its second start", func() error {
		lines, err := reportLines(report)
		if err != nil {
			return err
		}
		for _, l := range lines[len(before):] {
			if strings.HasPrefix(l, "start ") {
				start = l
				return nil
			}
		}
		return fmt.Errorf("%d new lines, no start", len(lines)-len(before))
	})
	testenv.MustDocker(t, "kill", ctr)
	_, err = fmt.Sscanf(start, "start %d %d", &a, &b)
	require.NoError(t, err, "start line %q", start)
	t.Logf("last reported write %d; found a=%d b=%d", last, a, b)
	return last, a, b
}

// reportLines returns the complete lines of ctr_counter's report.
func reportLines(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the report: %w", err)
	}
	text := string(data)
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		text = text[:i]
	} else {
		return nil, nil
	}
	return strings.Split(text, "\n"), nil
}

// lastWrite returns the value of the last "wrote N" line and the number
// of "start" lines.
func lastWrite(lines []string) (last uint64, starts int) {
	for _, l := range lines {
		if strings.HasPrefix(l, "start ") {
			starts++
		}
		if v, ok := strings.CutPrefix(l, "wrote "); ok {
			if n, err := strconv.ParseUint(v, 10, 64); err == nil {
				last = n
			}
		}
	}
	return last, starts
}
