package conformance

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// Lock-free readers (capi/engine/snapshot.c) against writers that create,
// IPC_SET and IPC_RMID in a loop in two IPC namespaces on one store, and
// are SIGKILLed at random moments: no reader ever sees what the kernel
// could not give -- a key after its IPC_RMID returned, a size or mode no
// writer made, an id after its segment was destroyed -- and none hangs.
// The same program runs natively first: the checks hold for the kernel.
// GOSHM_READERS_SECONDS makes the goshm run longer.
func TestLockFreeReadersAgainstKilledWriters(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/hard_readers")
	seconds := 15
	if v := os.Getenv("GOSHM_READERS_SECONDS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err)
		seconds = n
	}
	timeout := time.Duration(seconds)*time.Second + time.Minute

	native := testenv.Run(t, testenv.Opts{NewIPC: true, Timeout: timeout}, prog, "3")
	require.Equal(t, 0, native.Code, "natively: the checks must hold for the kernel\n%s", native)

	store := newStore(t)
	r := testenv.Run(t, testenv.Opts{Preload: true, NewIPC: true, Store: store, Timeout: timeout},
		prog, strconv.Itoa(seconds), "shared")
	require.Equal(t, 0, r.Code, r.String())
	assert.Regexp(t, `^ok \d+ reads, \d+ writers killed\n$`, r.Stdout)
	t.Logf("goshm: %s", r.Stdout)
}
