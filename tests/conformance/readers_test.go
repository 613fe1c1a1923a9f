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
	seconds := readersSeconds(t, 15)
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

// Another IPC namespace's attach count as lock-free attaches and detaches
// publish it (docs/FORMAT.md, the pub words): a holder in namespace A keeps
// one attach while churners there attach, detach and fork on threads, and
// a watcher in namespace B never sees nattch 0 -- the count a destroyer in
// B would trust.  A published count that lost an attach (an undone attach
// taken back after a detach published, or a detach's swap succeeding after
// the count changed and changed back) fails here.
func TestPublishedCountUnderChurn(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/hard_publish")
	seconds := readersSeconds(t, 10)
	r := testenv.Run(t, testenv.Opts{Preload: true, NewIPC: true, Store: newStore(t),
		Timeout: time.Duration(seconds)*time.Second + time.Minute}, prog, strconv.Itoa(seconds))
	require.Equal(t, 0, r.Code, r.String())
	assert.Regexp(t, `^ok \d+ stats, [1-9]\d* with attaches held\n$`, r.Stdout)
	t.Logf("goshm: %s", r.Stdout)
}

// readersSeconds is GOSHM_READERS_SECONDS, or def: how long the lock-free
// reader tests run under goshm.
func readersSeconds(t *testing.T, def int) int {
	t.Helper()
	v := os.Getenv("GOSHM_READERS_SECONDS")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, "GOSHM_READERS_SECONDS")
	return n
}
