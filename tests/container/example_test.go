package container

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// examples/docker, exactly as its README says: a build context of the
// Dockerfile, goshm's Debian package (make deb) and the program as
// legacy-server, built with `docker build`, run with a volume on
// /var/lib/goshm, restarted, and recreated.  The program is ctr_counter,
// a server that counts in a System V segment.  The one change: BASE is a
// clean Debian 12 made by debootstrap and imported (testenv.DebianImage),
// since no registry is reachable here.
func TestDockerExample(t *testing.T) {
	t.Parallel()
	testenv.RequireDocker(t)
	root := testenv.Root(t)
	base := testenv.DebianImage(t)

	ctx := t.TempDir()
	deb := packageName(t)
	for dst, src := range map[string]string{
		"Dockerfile":    filepath.Join(root, "examples/docker/Dockerfile"),
		deb:             testenv.Artifact(t, deb),
		"legacy-server": testenv.Artifact(t, "tests/ctr_counter"),
	} {
		out, err := exec.Command("cp", src, filepath.Join(ctx, dst)).CombinedOutput()
		require.NoError(t, err, "cp %s: %s", src, out)
	}
	image := testenv.DockerName("example")
	testenv.RemoveImageWhenDone(t, image)
	testenv.MustDocker(t, "build", "-q", "--build-arg", "BASE="+base, "-t", image, ctx)

	vol := testenv.NewVolume(t)
	run := []string{"-v", vol + ":/var/lib/goshm", image}
	first := testenv.StartContainer(t, run...)
	waitForLog(t, first, 1, 3)
	restart(t, first)
	logs := waitForLog(t, first, 2, 1)
	checkResumed(t, logs)
	testenv.MustDocker(t, "stop", first)
	before := containerLog(t, first)
	testenv.MustDocker(t, "rm", first)

	second := testenv.StartContainer(t, run...)
	after := waitForLog(t, second, 1, 1)
	checkResumed(t, append(before, after...))

	// The operator's view from inside: the server's segment, attached once
	// (owner root, uid 0).
	ls := dexec(t, second, "goshm", "ls")
	require.Equal(t, 0, ls.Code, ls.String())
	assert.Regexp(t, `(?m)^0x0000600d\s+\d+\s+(root|0)\s+666\s+4096\s+1\s*$`, ls.Stdout)

	d := dexec(t, second, "goshm", "doctor")
	require.Equal(t, 0, d.Code, d.String())
	assert.NotRegexp(t, `(?m)^WARN .*lost`, d.Stdout, "the recipe's store is safe: %s", d)
}

// packageName is the file `make deb` writes in build/:
// goshm_VERSION_ARCH.deb, VERSION as `goshm version` prints it.
func packageName(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(testenv.Artifact(t, "goshm"), "version").Output()
	require.NoError(t, err, "goshm version")
	fields := strings.Fields(string(out))
	require.GreaterOrEqual(t, len(fields), 2, "goshm version: %q", out)
	arch, err := exec.Command("dpkg", "--print-architecture").Output()
	require.NoError(t, err, "dpkg --print-architecture")
	return "goshm_" + fields[1] + "_" + strings.TrimSpace(string(arch)) + ".deb"
}

// waitForLog waits until ctr's log holds `starts` start lines and, after
// the last, `writes` writes; it returns the log's lines.
func waitForLog(t *testing.T, ctr string, starts, writes int) []string {
	t.Helper()
	var lines []string
	eventually(t, 30*time.Second, "legacy-server's log", func() error {
		lines = containerLog(t, ctr)
		s, w := 0, 0
		for _, l := range lines {
			if strings.HasPrefix(l, "start ") {
				s, w = s+1, 0
			} else if strings.HasPrefix(l, "wrote ") {
				w++
			}
		}
		if s < starts || w < writes {
			return fmt.Errorf("%d starts, %d writes after the last: %q", s, w, lines)
		}
		return nil
	})
	return lines
}

func containerLog(t *testing.T, ctr string) []string {
	t.Helper()
	r := testenv.Docker(t, "logs", ctr)
	require.Equal(t, 0, r.Code, r.String())
	text := strings.TrimSpace(r.Stdout)
	if text == "" {
		return nil
	}
	return strings.Split(text, "\n")
}

// checkResumed asserts that every start after the first found the counter
// where the run before it had left it: at its last reported write (or
// one further, when SIGTERM came between the write and its report).
func checkResumed(t *testing.T, lines []string) {
	t.Helper()
	var last uint64
	starts := 0
	for _, l := range lines {
		var a, b, n uint64
		if _, err := fmt.Sscanf(l, "start %d %d", &a, &b); err == nil {
			starts++
			if starts == 1 {
				assert.Equal(t, [2]uint64{0, 0}, [2]uint64{a, b}, "a new volume starts at 0")
			} else {
				assert.Positive(t, last)
				assert.Contains(t, []uint64{last, last + 1}, b, "start %d after writes up to %d", b, last)
				assert.Contains(t, []uint64{b, b + 1}, a, "torn write: a=%d b=%d", a, b)
			}
			last = b
		} else if _, err := fmt.Sscanf(l, "wrote %d", &n); err == nil {
			last = n
		}
	}
	assert.GreaterOrEqual(t, starts, 2, "%q", lines)
}
