package conformance

import (
	"fmt"
	"strings"
)

// A step is one output line of conf_scenarios:
// "<scenario> <process>#<n> <call> = <result>".
type step struct {
	label  string // "main#5", "child#2#3"
	call   string // "nattch(id#0)", "shmget(0x1001, 4096, IPC_CREAT|0600)"
	result string // "3", "-1 EINVAL", "0 {key=... nattch=1}"
}

func parseStep(line string) step {
	fields := strings.SplitN(line, " ", 3)
	if len(fields) < 3 {
		return step{call: line}
	}
	s := step{label: fields[1]}
	if i := strings.Index(fields[2], " = "); i >= 0 {
		s.call, s.result = fields[2][:i], fields[2][i+3:]
	} else {
		s.call = fields[2]
	}
	return s
}

func (s step) String() string {
	if s.result == "" {
		return s.call
	}
	return s.call + " = " + s.result
}

// fields splits a result into its "name=value" tokens and the rest.
func fields(result string) map[string]string {
	m := map[string]string{}
	r := strings.NewReplacer("{", " ", "}", " ")
	for i, tok := range strings.Fields(r.Replace(result)) {
		if k, v, ok := strings.Cut(tok, "="); ok {
			m[k] = v
		} else {
			m[fmt.Sprintf("#%d", i)] = tok
		}
	}
	return m
}

// fieldDiffs names the tokens that differ between two results.
func fieldDiffs(native, goshm string) map[string][2]string {
	a, b := fields(native), fields(goshm)
	d := map[string][2]string{}
	for k, v := range a {
		if b[k] != v {
			d[k] = [2]string{v, b[k]}
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok {
			d[k] = [2]string{"", v}
		}
	}
	return d
}

// A mismatch is one line where the two runs differ and no known
// difference explains it.
type mismatch struct {
	index         int
	native, goshm string // whole lines, "" when missing
}

func (m mismatch) String() string {
	n, g := parseStep(m.native), parseStep(m.goshm)
	var b strings.Builder
	label := n.label
	if label == "" {
		label = g.label
	}
	fmt.Fprintf(&b, "step %s (line %d)\n", label, m.index+1)
	fmt.Fprintf(&b, "    native: %s\n", orMissing(m.native))
	fmt.Fprintf(&b, "    goshm:  %s\n", orMissing(m.goshm))
	if n.call == g.call && m.native != "" && m.goshm != "" {
		for k, v := range fieldDiffs(n.result, g.result) {
			if !strings.HasPrefix(k, "#") {
				fmt.Fprintf(&b, "    field %s: native %q, goshm %q\n", k, v[0], v[1])
			}
		}
	}
	return b.String()
}

func orMissing(s string) string {
	if s == "" {
		return "(no such line)"
	}
	return s
}

// compareOutputs compares two runs of scenario as w line by line.  Lines
// that differ exactly as a known difference says are accepted; it returns
// the rest, and which known differences were seen.
func compareOutputs(scenario string, w who, native, goshm string, known []knownDiff) ([]mismatch, map[int]bool) {
	nl := strings.Split(strings.TrimRight(native, "\n"), "\n")
	gl := strings.Split(strings.TrimRight(goshm, "\n"), "\n")
	seen := map[int]bool{}
	var out []mismatch
	for i := 0; i < len(nl) || i < len(gl); i++ {
		var n, g string
		if i < len(nl) {
			n = nl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if n == g {
			continue
		}
		if k := matchKnown(scenario, w, parseStep(n), parseStep(g), known); k >= 0 {
			seen[k] = true
			continue
		}
		out = append(out, mismatch{index: i, native: n, goshm: g})
	}
	return out, seen
}

// matchKnown is the index of the known difference that explains the two
// steps, or -1.
func matchKnown(scenario string, w who, n, g step, known []knownDiff) int {
	if n.label != g.label || n.call != g.call {
		return -1
	}
	for i, k := range known {
		if !k.appliesTo(scenario, w) || k.Call != n.call {
			continue
		}
		if k.Field == "" {
			if (k.Native == "*" || k.Native == n.result) && (k.Goshm == "*" || k.Goshm == g.result) {
				return i
			}
			continue
		}
		d := fieldDiffs(n.result, g.result)
		if len(d) == 1 && d[k.Field] == [2]string{k.Native, k.Goshm} {
			return i
		}
	}
	return -1
}
