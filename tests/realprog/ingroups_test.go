package realprog

import (
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// inGroups, which the chaos test uses to find what its killed workers
// left running, counts a group whose leader has ended, and ignores a group
// whose leader is alive: that leader is a later process that got the pid
// of an ended worker.
func TestInGroupsTellsOrphansFromAReusedPid(t *testing.T) {
	// A group whose leader exits at once and leaves a child behind: the
	// child is what a killed worker leaves.
	orphaner := exec.Command("sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!")
	orphaner.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := orphaner.Output()
	require.NoError(t, err, "start a group whose leader leaves a child")
	child, err := strconv.Atoi(strings.TrimSpace(string(out)))
	require.NoError(t, err, "the child's pid: %q", out)
	group := orphaner.Process.Pid
	t.Cleanup(func() { _ = syscall.Kill(-group, syscall.SIGKILL) })

	// A group whose leader lives: another program's, as far as the chaos
	// test can tell.
	leader := exec.Command("sleep", "30")
	leader.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, leader.Start(), "start a group leader")
	t.Cleanup(func() {
		_ = leader.Process.Kill()
		_ = leader.Wait()
	})

	var found []int
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if found = inGroups(map[int]bool{group: true, leader.Process.Pid: true}); len(found) > 0 {
			break
		}
	}
	assert.Equal(t, []int{child}, found, "the orphan (%d) and not the live leader (%d)", child, leader.Process.Pid)
}
