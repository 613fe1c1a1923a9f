package conformance

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// A namespace slot names its IPC namespace by the inode number of
// /proc/self/ns/ipc, and its presence segment by id and ctime (seconds).
// The kernel gives a new IPC namespace the inode number of one that ended,
// and ids from 0 again: a container restarted within the second finds, at
// the id and with the ctime its old life's slot names, the presence
// segment it has just made for another segment.  Counting with it made
// both segments' nattch the sum of their attaches, and kept a removed
// segment from being destroyed at its last detach (PHP's sysvshm and
// shmop test left a data file behind).  Making a presence segment now
// forgets the slots that name it for an ended namespace, and an attach
// reads the presence segment's tag (the store and segment it counts).
//
// A attaches X and dies with it attached; B, in a new namespace with A's
// inode number, attaches Y first (its presence segment is id 0, as A's
// for X was), asks X's nattch, and attaches X, within the second of A's
// attach.
func TestRecycledNamespaceInodeDoesNotShareAPresence(t *testing.T) {
	testenv.RequireRoot(t)
	store := newStore(t)
	const keyX, keyY = "0x7a000001", "0x7a000002"
	for try := 1; ; try++ {
		require.LessOrEqual(t, try, 20, "never got a new namespace with the old one's inode "+
			"number within the same second (other tests making namespaces meanwhile?)")
		// Start early in a second: everything below takes well under one.
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 10*time.Millisecond)))
		start := time.Now()
		a := startPoke(t, store)
		nsA := nsOf(t, a.pid())
		x := a.ask(t, "get "+keyX+" 4096 01600")
		require.Equal(t, "ok", a.ask(t, "at "+x))
		a.end(t)

		// The kernel frees an ended namespace's inode number a little
		// later, and hands out the lowest free one: new namespaces are
		// made, and kept (else the next would get the same number back),
		// until one has A's.
		b := newNamespaceLike(t, store, nsA, start)
		if b == nil {
			t.Logf("try %d: no namespace with A's inode number within the second", try)
			continue
		}
		y := b.ask(t, "get "+keyY+" 4096 01600")
		require.Equal(t, "ok", b.ask(t, "at "+y))
		require.Equal(t, x, b.ask(t, "get "+keyX+" 0 0"))
		before := b.ask(t, "nattch "+x)
		require.Equal(t, "ok", b.ask(t, "at "+x))
		if time.Now().Unix() != start.Unix() {
			t.Logf("try %d: crossed a second", try)
			b.end(t)
			continue
		}
		t.Logf("try %d: namespace %s again, within the second", try, nsA)
		assert.Equal(t, "0", before, "X before B attaches it: A is gone")
		assert.Equal(t, "1", b.ask(t, "nattch "+x), "X: B's attach, A is gone")
		assert.Equal(t, "1", b.ask(t, "nattch "+y), "Y: B's attach")
		require.Equal(t, "ok", b.ask(t, "rm "+x))
		require.Equal(t, "ok", b.ask(t, "dt"))
		assert.Equal(t, "ERR 22", b.ask(t, "nattch "+x), "destroyed at its last detach")
		assert.Equal(t, "1", b.ask(t, "nattch "+y))
		var data []string
		for _, f := range segmentFiles(t, store) {
			if !strings.Contains(f, ".ns") {
				data = append(data, f)
			}
		}
		assert.Len(t, data, 1, "data files: Y's alone")
		b.end(t)
		return
	}
}

// newNamespaceLike starts shmpoke in new IPC namespaces until one is ns,
// within the second of start, and ends the others: that one, or nil.
func newNamespaceLike(t *testing.T, store, ns string, start time.Time) *poke {
	t.Helper()
	var others []*poke
	defer func() {
		for _, p := range others {
			p.end(t)
		}
	}()
	for time.Now().Unix() == start.Unix() {
		p := startPoke(t, store)
		if nsOf(t, p.pid()) == ns {
			return p
		}
		others = append(others, p)
	}
	return nil
}

// nsOf is the IPC namespace of process pid ("ipc:[N]").
func nsOf(t *testing.T, pid int) string {
	t.Helper()
	l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/ipc", pid))
	require.NoError(t, err)
	return l
}
