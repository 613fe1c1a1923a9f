package conformance

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

type scenario struct {
	name     string
	rootOnly bool // switches users itself, or writes a sysctl
}

// listScenarios asks the runner for its scenarios.
func listScenarios(t *testing.T) []scenario {
	t.Helper()
	return listScenariosOf(t, testenv.Artifact(t, "tests/conf_scenarios"))
}

// listScenariosOf asks the runner at prog (the glibc or the musl build of
// conf_scenarios) for its scenarios.
func listScenariosOf(t *testing.T, prog string) []scenario {
	t.Helper()
	out, err := exec.Command(prog, "--list").Output()
	require.NoError(t, err, "conf_scenarios --list")
	var list []scenario
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		require.Len(t, f, 2, "conf_scenarios --list line %q", line)
		list = append(list, scenario{name: f[0], rootOnly: f[1] == "root"})
	}
	require.NotEmpty(t, list, "conf_scenarios lists no scenario")
	return list
}

// TestScenarios runs every scenario natively and under goshm, as root and
// as uid 1000, and compares the outputs line by line.
func TestScenarios(t *testing.T) {
	testenv.RequireRoot(t)
	prog := testenv.Artifact(t, "tests/conf_scenarios")
	list := listScenarios(t)
	checkKnownDiffsNameScenarios(t, list)
	for _, w := range []who{asRoot, asUser} {
		t.Run(w.String(), func(t *testing.T) {
			for _, sc := range list {
				if sc.rootOnly && w != asRoot {
					continue // it needs root: it switches to uid 1000 itself, or writes a sysctl
				}
				t.Run(sc.name, func(t *testing.T) {
					t.Parallel()
					compareScenario(t, prog, sc.name, w)
				})
			}
		})
	}
}

func compareScenario(t *testing.T, prog, name string, w who) {
	compareScenarioLib(t, prog, testenv.Lib(t), name, w)
}

// compareScenarioLib runs the scenario natively and under the library lib.
func compareScenarioLib(t *testing.T, prog, lib, name string, w who) {
	native := runNative(t, w, prog, name)
	goshm := runGoshmLib(t, w, newStore(t), lib, prog, name)
	assertSameAsKernel(t, name, w, native, goshm)
}

// assertSameAsKernel checks that a program ran cleanly natively and under
// goshm, and printed the same lines but for known differences.
func assertSameAsKernel(t *testing.T, name string, w who, native, goshm testenv.Result) {
	t.Helper()
	require.NoError(t, native.Err, "native run\n%s", native)
	require.Equal(t, 0, native.Code, "%s fails natively\n%s", name, native)
	require.Empty(t, native.Stderr, "native stderr")
	require.Equal(t, 0, goshm.Code, "%s fails under goshm (native output below)\n%s\n--- native\n%s",
		name, goshm, native.Stdout)
	assert.Empty(t, goshm.Stderr, "goshm printed on stderr")

	mismatches, seen := compareOutputs(name, w, native.Stdout, goshm.Stdout, knownDiffs)
	if len(mismatches) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "%s as %s: %d line(s) differ between the kernel and goshm\n", name, w, len(mismatches))
		for i, m := range mismatches {
			if i == 10 {
				fmt.Fprintf(&b, "... and %d more\n", len(mismatches)-i)
				break
			}
			b.WriteString(m.String())
		}
		fmt.Fprintf(&b, "--- native output\n%s--- goshm output\n%s", native.Stdout, goshm.Stdout)
		t.Error(b.String())
	}
	for i, k := range knownDiffs {
		if k.Scenario != "*" && k.appliesTo(name, w) && !seen[i] {
			t.Errorf("known difference no longer shows in %s as %s: %s = native %q, goshm %q (%s);"+
				" remove it from knownDiffs and from docs/DIFFERENCES.md", name, w, k.Call, k.Native, k.Goshm, k.Why)
		}
	}
}

// Every known difference names a scenario that exists.
func checkKnownDiffsNameScenarios(t *testing.T, list []scenario) {
	t.Helper()
	names := map[string]bool{"*": true}
	for _, sc := range list {
		names[sc.name] = true
	}
	for _, k := range knownDiffs {
		assert.True(t, names[k.Scenario], "knownDiffs names no scenario %q", k.Scenario)
		assert.NotEmpty(t, k.Why, "known difference %s/%s says not why", k.Scenario, k.Call)
	}
}
