package conformance

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The comparison itself: what it accepts and what it reports.
func TestCompareOutputs(t *testing.T) {
	known := []knownDiff{
		{Scenario: "s", Call: "nattch(id#0)", Native: "3", Goshm: "1", Why: "w"},
		{Scenario: "s", Who: "user", Call: "shmctl(id#0, IPC_STAT, buf)", Field: "dtime",
			Native: "now", Goshm: "0", Why: "w"},
	}
	native := "s main#1 start\ns main#2 nattch(id#0) = 3\ns main#3 shmctl(id#0, IPC_STAT, buf) = 0 {dtime=now lpid=self}\n"

	t.Run("identical", func(t *testing.T) {
		m, seen := compareOutputs("s", asRoot, native, native, known)
		assert.Empty(t, m)
		assert.Empty(t, seen)
	})

	t.Run("known differences are accepted and recorded", func(t *testing.T) {
		goshm := "s main#1 start\ns main#2 nattch(id#0) = 1\ns main#3 shmctl(id#0, IPC_STAT, buf) = 0 {dtime=0 lpid=self}\n"
		m, seen := compareOutputs("s", asUser, native, goshm, known)
		assert.Empty(t, m)
		assert.Equal(t, map[int]bool{0: true, 1: true}, seen)
	})

	t.Run("a known difference applies only to its user, scenario and values", func(t *testing.T) {
		goshm := "s main#1 start\ns main#2 nattch(id#0) = 2\ns main#3 shmctl(id#0, IPC_STAT, buf) = 0 {dtime=0 lpid=self}\n"
		m, _ := compareOutputs("s", asRoot, native, goshm, known)
		require.Len(t, m, 2)
		assert.Contains(t, m[0].String(), "native: s main#2 nattch(id#0) = 3")
		assert.Contains(t, m[0].String(), "goshm:  s main#2 nattch(id#0) = 2")
		assert.Contains(t, m[1].String(), `field dtime: native "now", goshm "0"`)
		m, _ = compareOutputs("other", asUser, native, goshm, known)
		assert.Len(t, m, 2)
	})

	t.Run("a field difference with another field changed too is reported", func(t *testing.T) {
		goshm := "s main#1 start\ns main#2 nattch(id#0) = 3\ns main#3 shmctl(id#0, IPC_STAT, buf) = 0 {dtime=0 lpid=parent}\n"
		m, _ := compareOutputs("s", asUser, native, goshm, known)
		require.Len(t, m, 1)
		assert.Contains(t, m[0].String(), "field lpid")
	})

	t.Run("missing lines are reported", func(t *testing.T) {
		m, _ := compareOutputs("s", asRoot, native, "s main#1 start\n", known)
		require.Len(t, m, 2)
		assert.Contains(t, m[0].String(), "(no such line)")
	})
}
