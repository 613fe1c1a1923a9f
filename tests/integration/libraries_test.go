package integration

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// libraries maps the file name of each build of the library under test
// (the C build and the Go c-shared build) to its path.
func libraries(t *testing.T) map[string]string {
	return map[string]string{"libgoshm.so": testenv.CLib(t), "libgoshm-go.so": testenv.GoLib(t)}
}

// underEachLibrary runs check once per build of the library, as a subtest
// named after it, with that build preloaded, a fresh store and a fresh IPC
// namespace.
func underEachLibrary(t *testing.T, check func(t *testing.T, o testenv.Opts)) {
	for name, lib := range libraries(t) {
		t.Run(name, func(t *testing.T) {
			check(t, testenv.Opts{NewIPC: true, Preload: true, Lib: lib, Store: testenv.NewStore(t)})
		})
	}
}

// assertPrints runs argv with o and checks that it exits 0 having printed
// exactly want.
func assertPrints(t *testing.T, o testenv.Opts, want string, argv ...string) {
	t.Helper()
	r := testenv.Run(t, o, argv...)
	require.Equal(t, 0, r.Code, r.String())
	assert.Equal(t, want, r.Stdout)
}
