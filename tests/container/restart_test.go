package container

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// The write-up's experiment on a real Docker engine: systemv_shm_wr in a
// container, `docker restart`, systemv_shm_rd.  The restart gives the
// container a new IPC namespace, so natively the reader fails; under
// goshm, with the store on a volume, it reads the letters.
func TestDockerRestart(t *testing.T) {
	t.Parallel()
	testImage(t)

	t.Run("natively the segment is lost", func(t *testing.T) {
		t.Parallel()
		ctr := startIdle(t)
		writeAlphabet(t, ctr)
		// Before the restart the native segment is there: what loses it
		// is the restart, not the reader.
		requireAlphabet(t, readAlphabet(t, ctr))
		restart(t, ctr)
		requireLost(t, readAlphabet(t, ctr))
	})

	t.Run("LD_PRELOAD keeps it", func(t *testing.T) {
		t.Parallel()
		vol := testenv.NewVolume(t)
		ctr := startIdle(t, append(underGoshm(imageStore), withVolume(vol, imageStore)...)...)
		writeAlphabet(t, ctr)
		restart(t, ctr)
		requireAlphabet(t, readAlphabet(t, ctr))
		// The program found its segment in the store, not in the kernel.
		requireLost(t, dexecWith(t, native, ctr, "systemv_shm_rd"))
	})

	t.Run("goshm run keeps it", func(t *testing.T) {
		t.Parallel()
		testenv.Artifact(t, "goshm")
		vol := testenv.NewVolume(t)
		// No LD_PRELOAD and no GOSHM_DIR in the container: goshm run sets
		// both, finding libgoshm.so in ../lib beside /usr/local/bin/goshm.
		ctr := startIdle(t, withVolume(vol, "/data")...)
		run := []string{"goshm", "run", "--dir", "/data/goshm", "--"}
		writeAlphabet(t, ctr, run...)
		st := dexec(t, ctr, "stat", "-c", "%F", "/data/goshm/registry")
		require.Equal(t, 0, st.Code, "goshm run did not use --dir: %s", st)
		restart(t, ctr)
		requireAlphabet(t, readAlphabet(t, ctr, run...))
		requireLost(t, readAlphabet(t, ctr))
	})
}
