package container

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// Where the store lives decides what survives: a named volume outlives the
// container; the container's writable layer survives `docker restart` but
// not `docker rm` + `docker run`; a tmpfs does not even survive a restart.
// `goshm doctor` in the container says which case it is in.
func TestDockerRecreate(t *testing.T) {
	t.Parallel()
	testImage(t)

	t.Run("named volume: kept by a new container", func(t *testing.T) {
		t.Parallel()
		vol := testenv.NewVolume(t)
		opts := append(underGoshm(imageStore), withVolume(vol, imageStore)...)
		first := startIdle(t, opts...)
		writeAlphabet(t, first)
		testenv.MustDocker(t, "rm", "-f", first)

		second := startIdle(t, opts...)
		requireAlphabet(t, readAlphabet(t, second))

		d := doctor(t, second)
		assert.NotContains(t, d.Stdout+d.Stderr, "mount a volume", "a volume needs no warning")
		assert.NotContains(t, d.Stdout+d.Stderr, "lost on restart")
	})

	t.Run("writable layer: kept on restart, lost on recreation", func(t *testing.T) {
		t.Parallel()
		opts := underGoshm(imageStore)
		first := startIdle(t, opts...)
		writeAlphabet(t, first)
		restart(t, first)
		requireAlphabet(t, readAlphabet(t, first))
		testenv.MustDocker(t, "rm", "-f", first)

		second := startIdle(t, opts...)
		requireLost(t, readAlphabet(t, second))

		d := doctor(t, second)
		assert.Regexp(t, `(?i)warn`, d.Stdout+d.Stderr)
		assert.Contains(t, d.Stdout+d.Stderr, "lost when the container is recreated")
		assert.Contains(t, d.Stdout+d.Stderr, "mount a volume")
	})

	t.Run("tmpfs: lost on restart", func(t *testing.T) {
		t.Parallel()
		ctr := startIdle(t, append(underGoshm(imageStore), "--tmpfs", imageStore+":mode=1777")...)
		writeAlphabet(t, ctr)
		restart(t, ctr)
		requireLost(t, readAlphabet(t, ctr))

		d := doctor(t, ctr)
		assert.Regexp(t, `(?i)warn`, d.Stdout+d.Stderr)
		assert.Contains(t, d.Stdout+d.Stderr, "lost on restart")
	})
}

// doctor runs `goshm doctor` in ctr on its GOSHM_DIR; it warns but must
// not fail (exit 0) on a store that works.
func doctor(t *testing.T, ctr string) testenv.Result {
	t.Helper()
	testenv.Artifact(t, "goshm")
	d := dexec(t, ctr, "goshm", "doctor")
	require.Equal(t, 0, d.Code, d.String())
	require.Contains(t, d.Stdout+d.Stderr, imageStore, "doctor names the store: %s", d)
	t.Logf("goshm doctor:\n%s%s", d.Stdout, d.Stderr)
	return d
}
