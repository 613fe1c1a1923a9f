package crash

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// TestPowerCutAfterRemoveAndCreate cuts the power after a segment was
// removed and another made and written back, before the journal committed
// either: the moment a reuse of the removed segment's blocks would be
// seen, which TestPowerCut meets only by chance, made certain.
//
// Segment A is written and flushed (goshm_sync), then removed; segment B
// of the same size is made and written, and its pages are written back
// with sync_file_range, which commits nothing.  The journal commits every
// 300 s and the kernel's periodic writeback is off, so the disk holds A as
// flushed, its removal not at all, and B's pages.  After the cut A may
// come back -- its removal never reached the disk -- but only with A's
// bytes; B is absent, or zero, or B.  Earlier engines gave A's file to B
// with its blocks zeroed in place (FALLOC_FL_ZERO_RANGE): B's pages went
// into A's blocks, and A came back holding B's bytes on every run.
func TestPowerCutAfterRemoveAndCreate(t *testing.T) {
	testenv.RequireRoot(t)
	requireTools(t)
	prog := testenv.Artifact(t, "tests/rm_create_cut")
	testenv.Lib(t)

	exclusive(t)
	setSysctl(t, "vm.dirty_writeback_centisecs", "0")
	setSysctl(t, "vm.dirty_expire_centisecs", "360000")
	d := newDisk(t, 64<<20, 300)
	store := filepath.Join(d.mnt, "store")
	const keyA, keyB = 0x50430001, 0x50430002

	run := func(store string, args ...string) string {
		cmd := testenv.Command(t, context.Background(),
			testenv.Opts{Preload: true, Store: store, NewIPC: true}, append([]string{prog}, args...)...)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "rm_create_cut %s:\n%s", strings.Join(args, " "), out)
		return string(out)
	}
	out := run(store, "write", fmt.Sprint(keyA), fmt.Sprint(keyB))
	var inoA, inoB uint64
	_, err := fmt.Sscanf(out, "inode %d %d", &inoA, &inoB)
	require.NoError(t, err, "rm_create_cut write said: %q", out)
	t.Logf("data files: A inode %d, B inode %d", inoA, inoB)

	image, _ := d.cut("rm-create.img", nil)
	mnt, fsck, unmountCopy := d.mountCopy(image)
	defer unmountCopy()
	t.Logf("the copy: %s", fsck)
	copied := filepath.Join(mnt, "store")
	fakeReboot(t, copied)

	seen := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(run(copied, "check", fmt.Sprint(keyA),
		fmt.Sprint(keyB))), "\n") {
		key, what, _ := strings.Cut(line, " ")
		seen[key] = what
	}
	t.Logf("after the cut: A %s, B %s", seen[fmt.Sprint(keyA)], seen[fmt.Sprint(keyB)])
	assert.Contains(t, []string{"absent", "A"}, seen[fmt.Sprint(keyA)],
		"segment A, flushed and then removed, must be gone or hold its own bytes")
	assert.Contains(t, []string{"absent", "zero", "B"}, seen[fmt.Sprint(keyB)],
		"segment B must be gone, zero or hold its own bytes")
}
