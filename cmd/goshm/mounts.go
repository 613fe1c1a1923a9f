package main

import (
	"path/filepath"
	"strconv"
	"strings"
)

// mount is one line of /proc/self/mountinfo.
type mount struct {
	Point  string // where it is mounted
	Root   string // what of its file system is mounted there
	FSType string
	Source string
}

// parseMountinfo reads /proc/PID/mountinfo (proc(5)): fields up to the
// "-" separator, then the type and the source.
func parseMountinfo(data string) []mount {
	var out []mount
	for _, line := range strings.Split(data, "\n") {
		f := strings.Fields(line)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 5 || sep < 0 || sep+2 >= len(f) {
			continue
		}
		out = append(out, mount{
			Point:  unescapeMount(f[4]),
			Root:   unescapeMount(f[3]),
			FSType: f[sep+1],
			Source: unescapeMount(f[sep+2]),
		})
	}
	return out
}

// unescapeMount undoes the kernel's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountOf is the mount that holds path (absolute, symlinks resolved): the
// last-mounted of those with the longest mount point above it.
func mountOf(mounts []mount, path string) (mount, bool) {
	path = filepath.Clean(path)
	best, found := mount{}, false
	for _, m := range mounts {
		p := filepath.Clean(m.Point)
		under := p == "/" || path == p || strings.HasPrefix(path, p+"/")
		if under && (!found || len(p) >= len(filepath.Clean(best.Point))) {
			best, found = m, true
		}
	}
	return best, found
}
