package conformance

import (
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/goshm/goshm/tests/internal/testenv"
)

// The registry's layout (docs/FORMAT.md, capi/engine/engine.h; regSize
// and the other offsets are format_test.go's).
const (
	regSlotSize = 512
	regHdrUsed  = 1312 // through free_gens[16]
	regSlotUsed = 512
	// sem/registry: a 4096-byte header, then 32-byte slots.
	semRegSize     = 4096 + 32000*32
	semRegHdrUsed  = 128
	semRegSlotSize = 32
)

// Fields of the registry header and of a slot (offset, size) that the
// mutations aim at with values near their limits.
var (
	regHdrFields = [][2]int{{8, 4}, {12, 4}, {16, 4}, {20, 4}, {24, 4}, {28, 4}, {32, 8}, {48, 4},
		{52, 4}, {56, 4}, {64, 8}, {72, 8}, {80, 4}, {84, 4}, {88, 4}, {92, 4}, {96, 8}, {104, 8},
		{112, 8}, {120, 4}, {124, 4}, {1120, 4}, {1124, 4}, {1128, 4}, {1132, 4}, {1144, 8},
		{1152, 8}, {1180, 4}, {1184, 8}, {1192, 8}}
	regSlotFields = [][2]int{{0, 4}, {4, 4}, {8, 4}, {12, 4}, {16, 4}, {28, 4}, {32, 4}, {36, 4},
		{40, 8}, {88, 8}, {96, 4}, {128, 8}, {136, 8}, {144, 8}, {152, 4}, {156, 4}, {160, 4},
		{164, 4}, {168, 8}, {176, 8}, {184, 8}, {192, 4}, {200, 4}, {448, 8}, {456, 8}}
	semHdrFields = [][2]int{{8, 4}, {12, 4}, {16, 4}, {20, 4}, {24, 4}, {28, 4}, {32, 4},
		{36, 4}, {40, 8}, {48, 8}, {56, 8}, {64, 8}}
	semSlotFields = [][2]int{{0, 4}, {4, 4}, {8, 4}, {12, 4}, {16, 8}, {24, 4}, {28, 4}}
	edgeValues    = []uint64{0, 1, 2, 3, 7, 8, 9, 16, 17, 31, 32, 33, 63, 64, 65, 255, 256, 511, 512,
		4095, 4096, 4097, 16383, 16384, 16385, 32000, 32768, 65535, 65536, 1 << 20, 0x7fffffff,
		0x80000000, 0xfffffffe, 0xffffffff, 1 << 32, 1 << 40, 1<<63 - 1, 1 << 63, ^uint64(1), ^uint64(0)}
)

// regLayout says where a registry's interesting bytes are: its header, and
// the entries in use (the state bytes, the key index and the slots).
type regLayout struct {
	size, hdrUsed, slotsOff, slotSize, slotsUsed int
	statesOff, keysOff                           int // -1: none (sem/registry)
	hdrFields, slotFields                        [][2]int
}

var (
	shmRegLayout = regLayout{regSize, regHdrUsed, regSlotsOff, regSlotSize, 8, regStatesOff,
		regKeysOff, regHdrFields, regSlotFields}
	semRegLayout = regLayout{semRegSize, semRegHdrUsed, 4096, semRegSlotSize, 4, -1, -1,
		semHdrFields, semSlotFields}
)

// A mutation: bytes written at an offset of the registry, or (size >= 0)
// the registry cut or grown to size bytes.
type patch struct {
	off   int
	bytes []byte
	size  int
}

// mutations are the damage seed does to a registry laid out as lay whose
// bytes are b, and what it is, one mutation a line, so that a failure can
// be replayed by hand.  Bytes are chosen at offsets weighted toward what
// the engine reads: the header, the state bytes, keys and slots in use.
func mutations(b []byte, lay regLayout, seed int64) ([]patch, string) {
	b = append([]byte(nil), b...)
	rng := rand.New(rand.NewSource(seed))
	var out []patch
	var log []string
	pick := func() int {
		switch r := rng.Intn(10); {
		case r < 3:
			return rng.Intn(lay.hdrUsed)
		case r < 4 && lay.statesOff >= 0:
			return lay.statesOff + rng.Intn(lay.slotsUsed+2)
		case r < 5 && lay.keysOff >= 0:
			return lay.keysOff + 4*rng.Intn(lay.slotsUsed+2) + rng.Intn(4)
		case r < 9:
			return lay.slotsOff + rng.Intn(lay.slotsUsed)*lay.slotSize + rng.Intn(lay.slotSize)
		default:
			return rng.Intn(lay.size)
		}
	}
	put := func(off, size int, v uint64) {
		old := append([]byte(nil), b[off:off+size]...)
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], v)
		copy(b[off:off+size], w[:size])
		out = append(out, patch{off, append([]byte(nil), w[:size]...), -1})
		log = append(log, fmt.Sprintf("at %d: %x -> %x", off, old, w[:size]))
	}
	field := func() (int, int) {
		if rng.Intn(2) == 0 {
			f := lay.hdrFields[rng.Intn(len(lay.hdrFields))]
			return f[0], f[1]
		}
		f := lay.slotFields[rng.Intn(len(lay.slotFields))]
		return lay.slotsOff + rng.Intn(lay.slotsUsed)*lay.slotSize + f[0], f[1]
	}
	n := 1 + rng.Intn(6)
	if rng.Intn(4) == 0 {
		n = 1 + rng.Intn(40)
	}
	for ; n > 0; n-- {
		switch rng.Intn(9) {
		case 0, 1: // a random byte
			put(pick(), 1, uint64(rng.Intn(256)))
		case 2, 3: // one bit
			off := pick()
			put(off, 1, uint64(b[off]^byte(1<<rng.Intn(8))))
		case 4, 5: // a field at one of its limits
			off, size := field()
			put(off, size, edgeValues[rng.Intn(len(edgeValues))])
		case 6: // a field plus or minus a little
			off, size := field()
			var w [8]byte
			copy(w[:], b[off:off+size])
			put(off, size, binary.LittleEndian.Uint64(w[:])+uint64(rng.Intn(5)-2))
		case 7: // a state byte (or a sem slot's state) to a value of its range
			i := rng.Intn(lay.slotsUsed + 2)
			if lay.statesOff >= 0 {
				put(lay.statesOff+i, 1, uint64(rng.Intn(4)))
			} else {
				put(lay.slotsOff+i*lay.slotSize, 4, uint64(rng.Intn(3)))
			}
		case 8: // a slot in use copied over another, made live
			i, j := rng.Intn(lay.slotsUsed), rng.Intn(lay.slotsUsed+2)
			from := lay.slotsOff + i*lay.slotSize
			for k := 0; k < lay.slotSize; k += 8 {
				var w [8]byte
				copy(w[:], b[from+k:from+k+8])
				if j != i && binary.LittleEndian.Uint64(w[:]) != 0 {
					put(lay.slotsOff+j*lay.slotSize+k, 8, binary.LittleEndian.Uint64(w[:]))
				}
			}
			if lay.statesOff >= 0 {
				put(lay.statesOff+j, 1, 1)
			}
		}
	}
	if rng.Intn(12) == 0 { // a registry of another size
		size := rng.Intn(lay.size + 8192)
		out = append(out, patch{size: size})
		log = append(log, fmt.Sprintf("size %d", size))
	}
	return out, strings.Join(log, "\n")
}

// mutate damages the registry at path as seed says (mutations) and
// returns what it did.
func mutate(t *testing.T, path string, lay regLayout, seed int64) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Len(t, b, lay.size, "the registry's size")
	patches, log := mutations(b, lay, seed)
	for _, p := range patches {
		if p.size >= 0 {
			require.NoError(t, os.Truncate(path, int64(p.size)))
		} else {
			writeAt(t, path, int64(p.off), p.bytes)
		}
	}
	return log
}

// patchScript is mutate as shell commands, for a registry made in the
// namespace that the script runs in.
func patchScript(patches []patch, path string) string {
	var sb strings.Builder
	for _, p := range patches {
		if p.size >= 0 {
			fmt.Fprintf(&sb, "truncate -s %d %s\n", p.size, path)
			continue
		}
		sb.WriteString("printf '")
		for _, c := range p.bytes {
			fmt.Fprintf(&sb, "\\%03o", c)
		}
		fmt.Fprintf(&sb, "' | dd of=%s bs=1 seek=%d conv=notrunc status=none\n", path, p.off)
	}
	return sb.String()
}

// copyStore copies the store directory src to a new store.
func copyStore(t *testing.T, src string) string {
	t.Helper()
	dst := newStore(t)
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() {
			if rel == "." { // newStore made it, mode 1777
				return nil
			}
			if err := os.Mkdir(to, 0o777); err != nil {
				return err
			}
			return os.Chmod(to, info.Mode()&(fs.ModePerm|fs.ModeSticky))
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, info.Mode().Perm())
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
		return os.Chmod(to, info.Mode().Perm())
	})
	require.NoError(t, err, "copy the store")
	return dst
}

// Errnos the kernel can give each operation of conf_store_ops, and EIO
// for damage.
var fuzzErrnos = map[string][]string{
	"find":      {"ENOENT", "EACCES", "EIO"},
	"create":    {"EINVAL", "ENOSPC", "ENOMEM", "EACCES", "EIO"},
	"private":   {"EINVAL", "ENOSPC", "ENOMEM", "EACCES", "EIO"},
	"attach":    {"EINVAL", "EIDRM", "EACCES", "ENOMEM", "EIO"},
	"write":     {"EFAULT"}, // no attach to write to: the program's own
	"detach":    {"EINVAL"},
	"stat":      {"EINVAL", "EIDRM", "EACCES", "EOVERFLOW", "EIO"},
	"set":       {"EINVAL", "EIDRM", "EPERM", "EIO"},
	"lock":      {"EINVAL", "EIDRM", "EPERM", "ENOMEM", "EIO"},
	"rm":        {"EINVAL", "EIDRM", "EPERM", "EIO"},
	"IPC_INFO":  {"EIO"},
	"SHM_INFO":  {"EIO"},
	"shmstat":   {"EINVAL", "EACCES", "EIO"},
	"semcreate": {"EINVAL", "ENOSPC", "ENOMEM", "EACCES", "EIO"},
	"semup":     {"EINVAL", "EIDRM", "EACCES", "EFBIG", "ERANGE", "EAGAIN", "EIO"},
	"semstat":   {"EINVAL", "EIDRM", "EACCES", "EIO"},
	"semval":    {"EINVAL", "EIDRM", "EACCES", "EIO"},
}

// assertSurvived: the program exited by itself, in time, every failure
// has an errno the kernel could give or EIO, and at most one line is on
// stderr.
func assertSurvived(t *testing.T, r testenv.Result, what string) {
	t.Helper()
	if !assert.Equal(t, 0, r.Code, "%s: not killed, not hung, not failed (%v)\n%s", what, r.Err, r) {
		return
	}
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		op, res, ok := strings.Cut(line, " = ")
		if !ok || !strings.HasPrefix(res, "-1 ") {
			continue
		}
		name, _, _ := strings.Cut(op, " ")
		assert.Contains(t, fuzzErrnos[name], strings.TrimPrefix(res, "-1 "), "%s: %s\n%s", what, line, r)
	}
	lines := strings.Split(strings.TrimRight(r.Stderr, "\n"), "\n")
	assert.LessOrEqual(t, len(lines), 1, "%s: at most one line on stderr\n%s", what, r)
}

// assertCLISurvived: the goshm tool ran through a damaged store: exit 0
// or 1 with its message, never a crash of the engine under it (the Go
// runtime's "unexpected signal", a panic) nor a hang.
func assertCLISurvived(t *testing.T, r testenv.Result, what string) {
	t.Helper()
	assert.Contains(t, []int{0, 1}, r.Code, "%s: exit 0 or 1 (%v)\n%s", what, r.Err, r)
	for _, bad := range []string{"panic", "fatal error", "SIGSEGV", "SIGBUS", "signal"} {
		assert.NotContains(t, r.Stderr, bad, "%s\n%s", what, r)
	}
}

// fuzzSeeds is the fixed list of seeds, or GOSHM_REGFUZZ_SEEDS=N seeds
// from GOSHM_REGFUZZ_FROM (default 1) for exploring.
func fuzzSeeds(t *testing.T, fixed []int64) []int64 {
	v := os.Getenv("GOSHM_REGFUZZ_SEEDS")
	if v == "" {
		return fixed
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, "GOSHM_REGFUZZ_SEEDS")
	from := int64(1)
	if f := os.Getenv("GOSHM_REGFUZZ_FROM"); f != "" {
		from, err = strconv.ParseInt(f, 10, 64)
		require.NoError(t, err, "GOSHM_REGFUZZ_FROM")
	}
	seeds := make([]int64, n)
	for i := range seeds {
		seeds[i] = from + int64(i)
	}
	return seeds
}

// fuzzStore makes the store every seed starts from: key fuzzKeyA (8 KiB,
// attached when the program ended, data written), an IPC_PRIVATE segment,
// key fuzzKeyB removed while attached (SHM_DEST, its namespace gone), a
// segment made and destroyed (a free slot below hi_water), and a
// semaphore set.  It returns the store and the ids.
func fuzzStore(t *testing.T) (string, map[string]string) {
	t.Helper()
	store := newStore(t)
	r := storeOps(t, store, nil, fuzzSetupOps...)
	require.Equal(t, 0, r.Code, r.String())
	require.Empty(t, r.Stderr)
	got := opResults(r.Stdout)
	ids := map[string]string{"a": got["create 0x1234"], "p": got["private 4096"],
		"b": got["create 0x2345"], "c": got["create 0x4567"], "s": got["semcreate 0x5e3a"]}
	for k, id := range ids {
		require.Regexp(t, `^\d+$`, id, "%s\n%s", k, r)
	}
	return store, ids
}

var fuzzSetupOps = []string{"create", "0x1234", "8192", "attach", "$", "write",
	"private", "4096", "create", "0x2345", "65536", "attach", "$", "rm", "$",
	"create", "0x3456", "4096", "rm", "$", "create", "0x4567", "4096",
	"semcreate", "0x5e3a", "3", "semup", "$"}

// fuzzOps are the calls run on a damaged store: every kind of call the
// engine serves, on every segment and on ids and indexes next to them.
func fuzzOps(ids map[string]string) []string {
	ops := []string{"find", "0x1234", "find", "0x2345", "find", "0x4567",
		"attach", ids["a"], "write", "detach", "attach", ids["b"], "attach", ids["p"], "write",
		"stat", ids["a"], "stat", ids["b"], "stat", ids["p"], "stat", ids["c"],
		"set", ids["a"], "lock", ids["p"], "info"}
	for i := 0; i < 6; i++ {
		ops = append(ops, "shmstat", fmt.Sprint(i))
	}
	ops = append(ops, "shmstat", "4095", "shmstat", "4096",
		"semstat", ids["s"], "semup", ids["s"], "semval", ids["s"], "2",
		"rm", ids["c"], "rm", ids["b"], "detach",
		"create", "0x5678", "4096", "attach", "$", "write", "private", "8192",
		"create", "0x1234", "8192", "semcreate", "0x5e3b", "2", "rm", ids["p"])
	return ops
}

// afterOps are the calls of a second process, after the first one's
// calls (and repairs).
func afterOps(ids map[string]string) []string {
	return []string{"find", "0x1234", "stat", ids["a"], "attach", ids["a"], "info",
		"shmstat", "0", "shmstat", "1", "shmstat", "2", "semstat", ids["s"],
		"private", "4096", "rm", "$"}
}

// Seeded random damage to the registry -- random bytes and bits, fields
// at their limits, weighted toward the header, the key index and the slots
// in use, and a registry of another size -- never crashes nor hangs a
// program, nor the goshm tool: every call returns, with the kernel's errno
// or EIO, and at most one line on stderr (docs/FORMAT.md, Versioning).
// A failure prints the seed and the mutations; GOSHM_REGFUZZ_SEEDS=N (and
// GOSHM_REGFUZZ_FROM=K) runs seeds K..K+N-1 instead of the fixed list.
func TestRegistryFuzz(t *testing.T) {
	testenv.RequireRoot(t)
	base, ids := fuzzStore(t)
	for _, seed := range fuzzSeeds(t, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
		16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37,
		38, 39, 40,
		42, // hi_water past the slots: a crash in a key scan if the header check lets it by
	}) {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			t.Parallel()
			store := copyStore(t, base)
			muts := mutate(t, filepath.Join(store, "registry"), shmRegLayout, seed)
			what := fmt.Sprintf("seed %d, mutations:\n%s\n", seed, muts)
			runFuzzed(t, store, ids, what)
		})
	}
}

// The same for sem/registry.
func TestSemRegistryFuzz(t *testing.T) {
	testenv.RequireRoot(t)
	base, ids := fuzzStore(t)
	for _, seed := range fuzzSeeds(t, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
		16, 17, 18, 19, 20}) {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			t.Parallel()
			store := copyStore(t, base)
			muts := mutate(t, filepath.Join(store, "sem", "registry"), semRegLayout, seed)
			what := fmt.Sprintf("sem registry, seed %d, mutations:\n%s\n", seed, muts)
			runFuzzed(t, store, ids, what)
		})
	}
}

func runFuzzed(t *testing.T, store string, ids map[string]string, what string) {
	t.Helper()
	run := func(ops []string) testenv.Result {
		o, argv := goshmOpts(t, asRoot, store, append([]string{testenv.Artifact(t, "tests/conf_store_ops")}, ops...)...)
		o.Timeout = 20 * time.Second
		return testenv.Run(t, o, argv...)
	}
	logged := func(r testenv.Result) testenv.Result {
		if os.Getenv("GOSHM_REGFUZZ_LOG") != "" {
			t.Logf("%s%s", what, r)
		}
		return r
	}
	assertSurvived(t, logged(run(fuzzOps(ids))), what)
	assertSurvived(t, logged(run(afterOps(ids))), what+"(second process)")
	for _, cmd := range [][]string{{"ls"}, {"ls", "--sem"}, {"doctor"}, {"gc"}, {"ls"}} {
		r := testenv.Run(t, testenv.Opts{Store: store, NewIPC: true, Timeout: 20 * time.Second},
			append([]string{testenv.Artifact(t, "goshm")}, cmd...)...)
		assertCLISurvived(t, logged(r), what+"goshm "+strings.Join(cmd, " "))
	}
}

// The shm registry fuzz again, with the store made, damaged and used in
// one IPC namespace, while a process holds an attach: the namespace slots
// then name this namespace, and the calls act on its presence segments
// (native_id, native_ctime, tokens) as the damaged registry says.
func TestRegistryFuzzSameNamespace(t *testing.T) {
	testenv.RequireRoot(t)
	base, ids := fuzzStore(t)
	b, err := os.ReadFile(filepath.Join(base, "registry"))
	require.NoError(t, err)
	ops := testenv.Artifact(t, "tests/conf_store_ops")
	cli := testenv.Artifact(t, "goshm")
	lib := testenv.Lib(t)
	quote := func(args []string) string { return "'" + strings.Join(args, "' '") + "'" }
	for _, seed := range fuzzSeeds(t, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
		16, 17, 18, 19, 20}) {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			t.Parallel()
			store, out := newStore(t), t.TempDir()
			patches, muts := mutations(b, shmRegLayout, seed)
			what := fmt.Sprintf("same namespace, seed %d, mutations:\n%s\n", seed, muts)
			reg := filepath.Join(store, "registry")
			script := fmt.Sprintf(`set -e
export LD_PRELOAD=%[1]s
%[2]s %[3]s >/dev/null
%[2]s attach %[4]s settle 60000 >%[5]s/holder 2>&1 &
holder=$!
while ! grep -q attach %[5]s/holder; do sleep 0.01; done
unset LD_PRELOAD
%[6]s
set +e
export LD_PRELOAD=%[1]s
timeout -s KILL 20 %[2]s %[7]s >%[5]s/out1 2>%[5]s/err1; echo $? >%[5]s/rc1
timeout -s KILL 20 %[2]s %[8]s >%[5]s/out2 2>%[5]s/err2; echo $? >%[5]s/rc2
unset LD_PRELOAD
timeout -s KILL 20 %[9]s gc >%[5]s/out3 2>%[5]s/err3; echo $? >%[5]s/rc3
timeout -s KILL 20 %[9]s ls >%[5]s/out4 2>%[5]s/err4; echo $? >%[5]s/rc4
kill $holder
wait
`, lib, ops, quote(fuzzSetupOps), ids["a"], out, patchScript(patches, reg),
				quote(fuzzOps(ids)), quote(afterOps(ids)), cli)
			r := testenv.Run(t, testenv.Opts{Store: store, NewIPC: true, Timeout: 90 * time.Second},
				"sh", "-c", script)
			require.Equal(t, 0, r.Code, "%s\n%s", what, r)
			res := func(n int) testenv.Result {
				rd := func(name string) string {
					b, err := os.ReadFile(filepath.Join(out, fmt.Sprint(name, n)))
					require.NoError(t, err)
					return string(b)
				}
				code, err := strconv.Atoi(strings.TrimSpace(rd("rc")))
				require.NoError(t, err)
				r := testenv.Result{Stdout: rd("out"), Stderr: rd("err"), Code: code}
				if os.Getenv("GOSHM_REGFUZZ_LOG") != "" {
					t.Logf("%s%s", what, r)
				}
				return r
			}
			assertSurvived(t, res(1), what)
			assertSurvived(t, res(2), what+"(second process)")
			assertCLISurvived(t, res(3), what+"goshm gc")
			assertCLISurvived(t, res(4), what+"goshm ls")
		})
	}
}
