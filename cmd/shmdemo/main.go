package main

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

//go:embed doc.go
var doc string

func main() {
	os.Exit(exitCode(shmdemo(os.Args[1:], os.Stdout), os.Stderr))
}

// usageError is a command line that makes no sense: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// demoError is a demo that failed: the original program's code (-1, -2)
// and the reason.
type demoError struct {
	code int
	err  error
}

func (e demoError) Error() string { return e.err.Error() }

func exitCode(err error, stderr io.Writer) int {
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "shmdemo: %s\nRun 'shmdemo --help' for usage.\n", ue.msg)
		return 2
	}
	fmt.Fprintf(stderr, "shmdemo: %v\n", err)
	return 1
}

func usageText() string {
	_, text, _ := strings.Cut(doc, "/*\n")
	text, _, _ = strings.Cut(text, "*/")
	return text
}

// shmdemo is the dispatcher.  Each demo prints the original program's
// messages on stdout.
func shmdemo(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usageError{"no demo given"}
	}
	name, args := args[0], args[1:]
	for _, a := range args {
		if a == "--help" || a == "-h" || a == "-help" {
			name = "--help"
		}
	}
	path := "./shm.txt"
	switch name {
	case "--help", "-h", "-help", "help":
		fmt.Fprint(stdout, usageText())
		return nil
	case "systemv-wr", "systemv-rd":
		if len(args) > 0 {
			return usageError{name + ": no arguments expected"}
		}
	case "mmap-wr", "mmap-rd":
		switch len(args) {
		case 0:
		case 1:
			path = args[0]
		default:
			return usageError{name + ": one PATH at most"}
		}
	default:
		return usageError{fmt.Sprintf("unknown demo %q", name)}
	}

	var err error
	var prefix string
	switch name {
	case "systemv-wr":
		prefix = "SystemV Share Memory Create and Write"
		err = systemvWrite()
	case "systemv-rd":
		prefix = "SystemV Share Memory Create and Read"
		err = systemvRead(stdout)
	case "mmap-wr":
		prefix = "Mmap Share Memory Create and Write"
		err = mmapWrite(path)
	case "mmap-rd":
		prefix = "Mmap Share Memory Read"
		err = mmapRead(path, stdout)
	}
	var de demoError
	if errors.As(err, &de) {
		fmt.Fprintf(stdout, "%s Error: %d\n", prefix, de.code)
		return de.err
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s Ok\n", prefix)
	return nil
}

// printLetters prints the first 26 bytes as the originals do:
// printf("%c ", ...) for each, then a newline.
func printLetters(w io.Writer, b []byte) {
	var sb strings.Builder
	for _, c := range b[:shmsz-1] {
		sb.WriteByte(c)
		sb.WriteByte(' ')
	}
	sb.WriteByte('\n')
	io.WriteString(w, sb.String())
}
