// Package conformance proves goshm against the kernel: every scenario of
// build/tests/conf_scenarios runs natively in a fresh IPC namespace and
// under goshm with a fresh store, and the two outputs must be the same,
// line by line, except for the differences listed in knownDiffs.  The
// other tests here cover what a line-by-line comparison cannot: 500 forked
// children, daemons, threads, damaged and unusable stores, leaks, and bad
// input.  docs/CONFORMANCE.md explains how to read a failure.
package conformance

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// Who runs a program.
type who int

const (
	asRoot who = iota
	asUser     // testenv.UnprivUID/GID
)

func (w who) String() string {
	if w == asUser {
		return "user"
	}
	return "root"
}

// goshmOpts are the options to run argv under goshm with store, as w, in a
// fresh IPC namespace.  It returns the argv to run.
//
// As another user the library (testenv.Lib: either build) is preloaded by
// `env` after setpriv, so that only the program under test carries it.
// Under libgoshm-go.so setpriv itself could not: it changes its uid,
// re-raises CAP_SETGID in its own thread with capset(2) and then calls
// setresgid(2), which glibc applies to every thread -- and the Go
// runtime's threads that library brings along no longer have that
// capability, so glibc aborts the process.
func goshmOpts(t *testing.T, w who, store string, argv ...string) (testenv.Opts, []string) {
	t.Helper()
	return goshmOptsLib(t, w, store, testenv.Lib(t), argv...)
}

// goshmOptsLib is goshmOpts with the library lib preloaded instead of
// the library under test: build/musl/libgoshm.so for the programs built
// against musl (musl_test.go).
func goshmOptsLib(t *testing.T, w who, store, lib string, argv ...string) (testenv.Opts, []string) {
	t.Helper()
	o := testenv.Opts{NewIPC: true, Store: store, Timeout: 2 * time.Minute}
	if w == asUser {
		o.UID, o.GID = testenv.UnprivUID, testenv.UnprivGID
		return o, append([]string{"env", "LD_PRELOAD=" + lib}, argv...)
	}
	o.Preload, o.Lib = true, lib
	return o, argv
}

// nativeOpts are the options to run a program natively, as w, in a fresh
// IPC namespace.
func nativeOpts(w who) testenv.Opts {
	o := testenv.Opts{NewIPC: true, Timeout: 2 * time.Minute}
	if w == asUser {
		o.UID, o.GID = testenv.UnprivUID, testenv.UnprivGID
	}
	return o
}

// newStore is a fresh store that anyone can create its files in: the
// directory is made in advance with mode 1777, as goshm itself would make
// it, since the first call may come from uid 1000 (testenv.NewStore's
// parent belongs to root).
func newStore(t *testing.T) string {
	t.Helper()
	store := testenv.NewStore(t)
	require.NoError(t, os.Mkdir(store, 0o1777), "make the store directory")
	require.NoError(t, os.Chmod(store, 0o1777), "chmod the store directory")
	return store
}

// runNative runs argv natively as w.
func runNative(t *testing.T, w who, argv ...string) testenv.Result {
	t.Helper()
	return testenv.Run(t, nativeOpts(w), argv...)
}

// runGoshm runs argv under goshm as w, with store.
func runGoshm(t *testing.T, w who, store string, argv ...string) testenv.Result {
	t.Helper()
	return runGoshmLib(t, w, store, testenv.Lib(t), argv...)
}

// runGoshmLib runs argv under the library lib as w, with store.
func runGoshmLib(t *testing.T, w who, store, lib string, argv ...string) testenv.Result {
	t.Helper()
	o, args := goshmOptsLib(t, w, store, lib, argv...)
	return testenv.Run(t, o, args...)
}

// segmentFiles lists the data and token files left in a store.
func segmentFiles(t *testing.T, store string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(store, "segments"))
	require.NoError(t, err, "read the store's segments directory")
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
