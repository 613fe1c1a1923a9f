package testenv

// The container tests' access to the local Docker engine.  There is no
// image registry: images are built here from what `make` built (see
// rootfs.go), and everything a test creates carries DockerPrefix in its
// name and is removed when the test ends, whether it passed or not.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// DockerPrefix starts the name of every image, container and volume the
// tests create, so that leftovers of a killed test run are recognisable.
const DockerPrefix = "goshm-test-"

// dockerTimeout bounds one docker command; image builds and container
// starts take a second or two here.
const dockerTimeout = 2 * time.Minute

var dockerProbe struct {
	once sync.Once
	err  error
}

// DockerError says why no Docker engine can be used, or is nil when
// `docker info` answers.
func DockerError() error {
	dockerProbe.once.Do(func() {
		if _, err := exec.LookPath("docker"); err != nil {
			dockerProbe.err = fmt.Errorf("no docker command: %w", err)
			return
		}
		out, err := DockerCommand(context.Background(), nil, "info", "--format", "{{.ServerVersion}}")
		if err != nil {
			dockerProbe.err = err
			return
		}
		if strings.TrimSpace(out) == "" {
			dockerProbe.err = errors.New("docker info reports no server version")
		}
	})
	return dockerProbe.err
}

// NoDockerEnv names the variable that, set to 1, says this machine cannot
// run a Docker engine (a chroot, a container without Docker in Docker):
// the container tests then skip, each saying so, and `make test` says so
// at its end.  Without it a missing engine fails them.
const NoDockerEnv = "GOSHM_TEST_NO_DOCKER"

// RequireDocker fails the test when no Docker engine answers, or skips it
// when NoDockerEnv says there can be none: on goshm's machines a skipped
// test is a missing check.
func RequireDocker(t testing.TB) {
	t.Helper()
	err := DockerError()
	switch {
	case err == nil:
	case os.Getenv(NoDockerEnv) == "1":
		t.Skipf("%s=1: this machine runs no Docker engine (`docker info` failed: %v)", NoDockerEnv, err)
	default:
		t.Fatalf("needs a running Docker engine (`docker info` failed: %v); start one, or set %s=1 "+
			"on a machine that cannot run one", err, NoDockerEnv)
	}
}

// DockerCommand runs `docker args...` with stdin (may be nil) and returns
// its standard output, or an error that includes its standard error.
func DockerCommand(ctx context.Context, stdin io.Reader, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, dockerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	// The classic builder resolves FROM against local images only; BuildKit
	// may ask a registry for metadata, and there is none here.
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err,
			strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// Docker runs `docker args...` and returns what happened; it never fails
// the test by itself.
func Docker(t testing.TB, args ...string) Result {
	t.Helper()
	return Run(t, Opts{Timeout: dockerTimeout, Env: []string{"DOCKER_BUILDKIT=0"}},
		append([]string{"docker"}, args...)...)
}

// MustDocker runs `docker args...`, fails the test unless it succeeds, and
// returns its standard output without surrounding white space.
func MustDocker(t testing.TB, args ...string) string {
	t.Helper()
	r := Docker(t, args...)
	if r.Code != 0 {
		t.Fatalf("docker %s: %s", strings.Join(args, " "), r)
	}
	return strings.TrimSpace(r.Stdout)
}

// DockerName returns a fresh name for an image, container or volume:
// DockerPrefix, a random part, and what (a word saying what it is).
func DockerName(what string) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return DockerPrefix + hex.EncodeToString(b[:]) + "-" + what
}

// NewVolume creates a named volume, removed when the test ends (after
// the containers started later, since cleanups run last-in first-out).
func NewVolume(t testing.TB) string {
	t.Helper()
	name := DockerName("vol")
	MustDocker(t, "volume", "create", name)
	t.Cleanup(func() { removeQuietly(t, "volume", "rm", "-f", name) })
	return name
}

// StartContainer runs `docker run -d --name NAME args...` (options, image,
// command) and returns NAME.  The container and its anonymous volumes are
// removed when the test ends.
func StartContainer(t testing.TB, args ...string) string {
	t.Helper()
	name := DockerName("ctr")
	t.Cleanup(func() { removeQuietly(t, "rm", "-f", "-v", name) })
	MustDocker(t, append([]string{"run", "-d", "--name", name}, args...)...)
	return name
}

// RemoveImageWhenDone removes image tag when the test ends.
func RemoveImageWhenDone(t testing.TB, tag string) {
	t.Cleanup(func() { removeQuietly(t, "rmi", "-f", tag) })
}

// RemoveImage removes an image; for cleanups outside a test (TestMain).
func RemoveImage(tag string) error {
	_, err := DockerCommand(context.Background(), nil, "rmi", "-f", tag)
	return err
}

// removeQuietly runs a cleanup command, reporting (not failing on) errors:
// a container that never started has nothing to remove.
func removeQuietly(t testing.TB, args ...string) {
	if _, err := DockerCommand(context.Background(), nil, args...); err != nil &&
		!strings.Contains(err.Error(), "No such") {
		t.Logf("cleanup: %v", err)
	}
}
