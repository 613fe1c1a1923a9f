package install

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

var manPages = []string{"man/goshm.1", "man/libgoshm.7"}

// The man pages are clean mdoc: mandoc's linter finds nothing at warning
// level or above, and man-db formats them without a warning.
func TestManPagesLint(t *testing.T) {
	requireTools(t, "mandoc", "man")
	root := testenv.Root(t)
	for _, page := range manPages {
		t.Run(page, func(t *testing.T) {
			out, err := exec.Command("mandoc", "-T", "lint", "-W", "warning",
				filepath.Join(root, page)).CombinedOutput()
			assert.NoError(t, err, "mandoc -T lint:\n%s", out)
			assert.Empty(t, string(out))

			cmd := exec.Command("man", "--warnings", "-l", filepath.Join(root, page))
			cmd.Env = []string{"LC_ALL=C.UTF-8", "MANWIDTH=100", "PATH=/usr/bin:/bin"}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			text, err := cmd.Output()
			require.NoError(t, err, "man --warnings: %s", stderr.String())
			assert.Empty(t, stderr.String(), "man --warnings")
			assert.Greater(t, len(text), 2000, "the page renders")
		})
	}
}

// helpCommands are the commands `goshm help` lists, with the flags of
// each one's synopsis (`goshm help COMMAND`, first paragraph).
func helpCommands(t *testing.T) map[string][]string {
	t.Helper()
	goshm := testenv.Artifact(t, "goshm")
	all := run(t, "", nil, goshm, "help")
	_, list, ok := strings.Cut(all, "Commands:\n")
	require.True(t, ok, "goshm help has a Commands: list:\n%s", all)
	list, _, _ = strings.Cut(list, "\n\n\n")
	cmds := map[string][]string{}
	flagRE := regexp.MustCompile(`--[a-z][a-z-]*`)
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			break
		}
		name := f[0]
		help := run(t, "", nil, goshm, "help", name)
		synopsis, _, _ := strings.Cut(help, "\n\n")
		if name == "help" {
			synopsis = ""
		}
		flags := map[string]bool{}
		for _, fl := range flagRE.FindAllString(synopsis, -1) {
			flags[fl] = true
		}
		cmds[name] = sortedKeys(flags)
	}
	require.Len(t, cmds, 9, "goshm help's commands: %v", cmds)
	return cmds
}

func sortedKeys(m map[string]bool) []string {
	out := []string{}
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// goshm(1) has a subsection for every command of `goshm help`, whose
// synopsis names exactly the flags of the command's help, and it
// documents the global flags and the exit statuses the help gives.
func TestManPageMatchesHelp(t *testing.T) {
	requireTools(t, "man")
	cmd := exec.Command("man", "-l", filepath.Join(testenv.Root(t), "man/goshm.1"))
	cmd.Env = []string{"LC_ALL=C.UTF-8", "MANWIDTH=200", "PATH=/usr/bin:/bin"}
	out, err := cmd.Output()
	require.NoError(t, err)
	page := string(out)

	_, commands, ok := strings.Cut(page, "\nCOMMANDS\n")
	require.True(t, ok, "goshm(1) has a COMMANDS section")
	commands, _, _ = strings.Cut(commands, "\nENVIRONMENT\n")
	sections := map[string]string{}
	parts := regexp.MustCompile(`(?m)^   [a-z]+\n`).Split(commands, -1)[1:]
	names := regexp.MustCompile(`(?m)^   ([a-z]+)\n`).FindAllStringSubmatch(commands, -1)
	require.Len(t, parts, len(names))
	for i, n := range names {
		sections[n[1]] = parts[i]
	}

	flagRE := regexp.MustCompile(`--[a-z][a-z-]*`)
	help := helpCommands(t)
	for name, flags := range help {
		sec, ok := sections[name]
		if !assert.True(t, ok, "goshm(1) has no subsection for %q", name) {
			continue
		}
		synopsis, _, _ := strings.Cut(strings.TrimLeft(sec, "\n"), "\n\n")
		got := map[string]bool{}
		for _, fl := range flagRE.FindAllString(synopsis, -1) {
			got[fl] = true
		}
		assert.Equal(t, flags, sortedKeys(got), "flags of %q: goshm help vs goshm(1)", name)
	}
	assert.Len(t, sections, len(help), "goshm(1)'s subsections: %v", sortedKeys(keysOf(sections)))

	for _, want := range []string{"--dir dir", "--json", "--help", "EXIT STATUS", "GOSHM_DIR", "GOSHM_LIB", "libgoshm(7)"} {
		assert.Contains(t, page, want)
	}
	_, exit, _ := strings.Cut(page, "\nEXIT STATUS\n")
	exit, _, _ = strings.Cut(exit, "\nEXAMPLES\n")
	assert.Regexp(t, `0 on success[\s\S]*1 on failure[\s\S]*2 on a usage error`, exit)
	assert.Contains(t, run(t, "", nil, testenv.Artifact(t, "goshm"), "help"),
		"Exit status: 0 success, 1 failure", "the help says the same exit statuses")
}

func keysOf(m map[string]string) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

// complete runs the bash completion for the words typed so far (the last
// is the word being completed) and returns its candidates.
func complete(t *testing.T, words ...string) []string {
	t.Helper()
	script := filepath.Join(testenv.Root(t), "contrib/bash-completion/goshm")
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = "'" + w + "'"
	}
	prog := "source " + script + "\n" +
		"COMP_WORDS=(" + strings.Join(quoted, " ") + ")\n" +
		"COMP_CWORD=" + strconv.Itoa(len(words)-1) + "\n" +
		"_goshm\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n"
	out := run(t, "", nil, "bash", "--norc", "-c", prog)
	got := strings.Fields(out)
	sort.Strings(got)
	return got
}

// The bash completion offers the commands of `goshm help`, and for each
// command exactly the flags of its help (and --help).
func TestBashCompletionMatchesHelp(t *testing.T) {
	requireTools(t, "bash")
	help := helpCommands(t)
	assert.Equal(t, sortedKeys(keysOf(map[string]string{
		"run": "", "ls": "", "stat": "", "rm": "", "gc": "", "sync": "", "doctor": "", "version": "", "help": "",
	})), complete(t, "goshm", ""), "commands")
	var names []string
	for n := range help {
		names = append(names, n)
	}
	sort.Strings(names)
	assert.Equal(t, names, complete(t, "goshm", ""), "the commands of goshm help")
	assert.Equal(t, []string{"--dir", "--help", "--json"}, complete(t, "goshm", "--"), "global flags")
	for name, flags := range help {
		if name == "help" {
			assert.Equal(t, names, complete(t, "goshm", "help", ""))
			continue
		}
		want := map[string]bool{"--help": true}
		for _, f := range flags {
			want[f] = true
		}
		if name == "run" {
			want["--"] = true
		}
		assert.Equal(t, sortedKeys(want), complete(t, "goshm", name, "--"), "flags of %s", name)
	}
	assert.Contains(t, complete(t, "goshm", "run", "--", "ech"), "echo", "after run --: a command")
}

// libgoshm(7) documents every variable of README.md's Configuration
// table, the store's default, and points to the differences.
func TestLibraryManPageMatchesReadme(t *testing.T) {
	requireTools(t, "man")
	root := testenv.Root(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	_, table, ok := strings.Cut(string(readme), "\n## Configuration\n")
	require.True(t, ok, "README.md has a Configuration section")
	table, _, _ = strings.Cut(table, "\n## ")
	vars := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(GOSHM_[A-Z_]+)").FindAllStringSubmatch(table, -1) {
		vars[m[1]] = true
	}
	require.GreaterOrEqual(t, len(vars), 5, "README's variables: %v", vars)

	cmd := exec.Command("man", "-l", filepath.Join(root, "man/libgoshm.7"))
	cmd.Env = []string{"LC_ALL=C.UTF-8", "MANWIDTH=200", "PATH=/usr/bin:/bin"}
	out, err := cmd.Output()
	require.NoError(t, err)
	_, env, ok := strings.Cut(string(out), "\nENVIRONMENT\n")
	require.True(t, ok, "libgoshm(7) has an ENVIRONMENT section")
	env, _, _ = strings.Cut(env, "\nFILES\n")
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^     (GOSHM_[A-Z_]+)`).FindAllStringSubmatch(env, -1) {
		documented[m[1]] = true
	}
	assert.Equal(t, sortedKeys(vars), sortedKeys(documented), "README's variables vs libgoshm(7)'s")
	assert.Contains(t, env, "/var/lib/goshm")
	assert.Contains(t, string(out), "DIFFERENCES.md")
}
