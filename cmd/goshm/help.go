package main

import (
	_ "embed"
	"fmt"
	"strings"
)

// The help text is the package documentation, as in golang.org/x/tools'
// cmd/digraph: doc.go is the one place it is written.
//
//go:embed doc.go
var doc string

// helpText is the whole text, or the section of one command.
func helpText(name string) string {
	_, text, _ := strings.Cut(doc, "/*\n")
	text, _, _ = strings.Cut(text, "*/")
	if name == "" {
		return text
	}
	_, sec, ok := strings.Cut(text, "\n# "+name+"\n")
	if !ok {
		return ""
	}
	sec, _, _ = strings.Cut(sec, "\n# ")
	return strings.TrimLeft(sec, "\n")
}

// help prints the help of a command, or the whole text for the tool (and
// for "help", which has no section of its own).
func (c *cli) help(name string) error {
	text := helpText(name)
	if text == "" {
		text = helpText("")
	}
	fmt.Fprint(c.stdout, text)
	return nil
}

func (c *cli) cmdHelp(args []string) error {
	switch {
	case len(args) == 0:
		return c.help("")
	case len(args) > 1:
		return usagef("help: one command at most")
	}
	if _, ok := commands[args[0]]; !ok {
		return usagef("help: unknown command %q", args[0])
	}
	return c.help(args[0]) // "help help" is the whole text

}
