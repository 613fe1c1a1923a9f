package testenv

// The library under test.  goshm has two builds of one engine
// (docs/DESIGN.md): build/libgoshm.so, compiled by the C compiler alone,
// and build/libgoshm-go.so, built by go -buildmode=c-shared, which brings
// a Go runtime.  The suites that prove the engine run under either.

import (
	"debug/elf"
	"os"
	"testing"
)

// LibEnv names the environment variable that chooses the library the
// suites run under: `make test` runs the conformance, interop and
// real-program suites once with the default, build/libgoshm.so, and once
// more with GOSHM_TEST_LIB=libgoshm-go.so.
const LibEnv = "GOSHM_TEST_LIB"

// LibName is the file name in build/ of the library under test: $GOSHM_TEST_LIB,
// else libgoshm.so.
func LibName() string {
	if name := os.Getenv(LibEnv); name != "" {
		return name
	}
	return CLibName
}

// The two builds of the library, in build/.
const (
	CLibName  = "libgoshm.so"    // the C compiler's build, the default
	GoLibName = "libgoshm-go.so" // go build -buildmode=c-shared
)

// Lib is the path of the library under test (LibName).
func Lib(t testing.TB) string { return Artifact(t, LibName()) }

// CLib is the path of build/libgoshm.so, whatever the library under test:
// for the tests about that build, and what programs use by default
// (goshm run, the container images).
func CLib(t testing.TB) string { return Artifact(t, CLibName) }

// GoLib is the path of build/libgoshm-go.so, for the tests about its Go
// runtime.
func GoLib(t testing.TB) string { return Artifact(t, GoLibName) }

// GoBuilt says whether the library at path carries a Go runtime: the Go
// linker gives every binary it links a .go.buildinfo section.
func GoBuilt(t testing.TB, path string) bool {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer f.Close()
	return f.Section(".go.buildinfo") != nil
}
