package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/goshm/goshm/goshm"
)

func main() {
	c := newCLI(os.Stdout, os.Stderr)
	os.Exit(c.exitCode(c.main(os.Args[1:])))
}

// cli is one run of the tool.  Everything it touches outside the store
// is a field, so that tests call main directly and see what it printed
// and what it would have exec'd.
type cli struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	environ        func() []string
	executable     func() (string, error)
	exec           func(path string, argv, env []string) error

	// Global flags.
	dir  string
	json bool

	// The commands' own flags.
	keys    keyList // stat, rm: --key
	dryRun  bool    // gc
	all     bool    // sync
	lib     string  // run, doctor, version
	binary  string  // doctor
	sem     bool    // ls: --sem
	semIDs  keyList // rm: --sem
	semKeys keyList // rm: --sem-key
}

func newCLI(stdout, stderr io.Writer) *cli {
	return &cli{
		stdout:     stdout,
		stderr:     stderr,
		getenv:     os.Getenv,
		environ:    os.Environ,
		executable: func() (string, error) { return executablePath() },
		exec:       syscall.Exec,
	}
}

// usageError is a command line that makes no sense: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return usageError{fmt.Sprintf(format, args...)}
}

// exitStatus ends the run with a status whose reasons were printed
// already (one line per failed segment, doctor's FAIL lines).
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// exitCode prints err, prefixed "goshm: ", and says how to exit.
func (c *cli) exitCode(err error) int {
	var ue usageError
	var es exitStatus
	switch {
	case err == nil:
		return 0
	case errors.As(err, &es):
		return int(es)
	case errors.As(err, &ue):
		fmt.Fprintf(c.stderr, "goshm: %s\nRun 'goshm help' for usage.\n", ue.msg)
		return 2
	}
	fmt.Fprintf(c.stderr, "goshm: %v\n", err)
	return 1
}

type command struct {
	run   func(c *cli, args []string) error
	flags func(c *cli, fs *flag.FlagSet) // the command's own flags
	// interspersed: flags may follow positional arguments (not for run,
	// whose arguments after the command belong to the command).
	interspersed bool
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"run":     {run: (*cli).cmdRun, flags: libFlag},
		"ls":      {run: (*cli).cmdLs, flags: lsFlags, interspersed: true},
		"stat":    {run: (*cli).cmdStat, flags: statFlags, interspersed: true},
		"rm":      {run: (*cli).cmdRm, flags: rmFlags, interspersed: true},
		"gc":      {run: (*cli).cmdGC, flags: gcFlags, interspersed: true},
		"sync":    {run: (*cli).cmdSync, flags: syncFlags, interspersed: true},
		"doctor":  {run: (*cli).cmdDoctor, flags: doctorFlags, interspersed: true},
		"version": {run: (*cli).cmdVersion, flags: libFlag, interspersed: true},
		"help":    {run: (*cli).cmdHelp, interspersed: true},
	}
}

// main is the dispatcher: global flags, then the command with its flags.
func (c *cli) main(args []string) error {
	fs := c.flagSet("goshm")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c.help("")
		}
		return usageError{err.Error()}
	}
	args = fs.Args()
	if len(args) == 0 {
		return usagef("no command")
	}
	name, args := args[0], args[1:]
	cmd, ok := commands[name]
	if !ok {
		return usagef("unknown command %q", name)
	}
	fs = c.flagSet(name)
	if cmd.flags != nil {
		cmd.flags(c, fs)
	}
	pos, err := parseFlags(fs, args, cmd.interspersed)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c.help(name)
		}
		return usagef("%s: %v", name, err)
	}
	return cmd.run(c, pos)
}

// flagSet has the global flags, which every command accepts too.
func (c *cli) flagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.dir, "dir", c.dir, "the store")
	fs.BoolVar(&c.json, "json", c.json, "print JSON")
	return fs
}

// parseFlags returns the positional arguments.  With interspersed, flags
// may come after them too (goshm rm 5 --key 0x10).
func parseFlags(fs *flag.FlagSet, args []string, interspersed bool) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if !interspersed || len(args) == 0 {
			return append(pos, args...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// storeDir is --dir, else $GOSHM_DIR, else the default.
func (c *cli) storeDir() string {
	if c.dir != "" {
		return c.dir
	}
	if d := c.getenv("GOSHM_DIR"); d != "" {
		return d
	}
	return goshm.DefaultDir
}

// openStore opens the store for the commands that read or change what is
// in it.  They never create a store (a typo in --dir must not make a
// directory): a missing directory is an error, and a directory without a
// registry, where no segment was ever made, is reported as nil.
func (c *cli) openStore() (*goshm.Store, error) {
	dir := c.storeDir()
	fi, err := os.Stat(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("store %s does not exist (check --dir or GOSHM_DIR)", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("store %s: not a directory", dir)
	}
	_, err = os.Stat(dir + "/registry")
	_, semErr := os.Stat(dir + "/sem/registry") // semaphore sets only
	if errors.Is(err, os.ErrNotExist) && errors.Is(semErr, os.ErrNotExist) {
		return nil, nil
	}
	return goshm.Open(dir)
}
