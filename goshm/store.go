package goshm

import (
	"fmt"
	"math"
	"os"
	"syscall"

	"github.com/goshm/goshm/capi/engine"
)

// DefaultDir is the store used when neither Open's argument nor GOSHM_DIR
// names one.
const DefaultDir = "/var/lib/goshm"

// Store is a store directory.  Opening one does not touch the disk: the
// directory (mode 1777, like /dev/shm) and its registry are created by the
// first Get that may create a segment; until then the other calls see an
// empty store.
type Store struct {
	e *engine.Store
}

// Open returns the store in dir.  An empty dir means the default store:
// $GOSHM_DIR, else DefaultDir, which is the store C programs under the
// library use.
func Open(dir string) (*Store, error) {
	e, err := engine.OpenStore(dir)
	if err != nil {
		if dir == "" {
			dir = DefaultStoreDir()
		}
		return nil, &OpError{Op: "open", Dir: dir, ID: -1, Err: err}
	}
	return &Store{e: e}, nil
}

// Default is Open("").
func Default() (*Store, error) { return Open("") }

// DefaultStoreDir is the directory Open("") uses: $GOSHM_DIR, else
// DefaultDir.
func DefaultStoreDir() string {
	if d := os.Getenv("GOSHM_DIR"); d != "" {
		return d
	}
	return DefaultDir
}

// Dir is the store's directory, absolute and without a trailing slash.
func (s *Store) Dir() string { return s.e.Dir() }

func (s *Store) opErr(op string, id int, err error) error {
	return &OpError{Op: op, Dir: s.Dir(), ID: id, Err: err}
}

// Get is shmget(2): the segment with key, created when flags has
// IPC_CREAT and the key has none (or when key is IPC_PRIVATE), with the
// permission bits of perm.  Keys are C's key_t: values above MaxInt32 (a
// hex literal such as 0xdeadbeef) are taken as C would store them, and
// Stat reports them as that negative int32.
//
// Errors (in the kernel's order): ENOENT (no such key, no IPC_CREAT),
// EEXIST (IPC_CREAT|IPC_EXCL on an existing key), EINVAL (size out of
// range, or larger than the existing segment), EACCES (perm denies what
// flags' permission bits ask), ENOSPC (store full, or no disk space: the
// space is reserved now, never found missing later).
func (s *Store) Get(key int, size int, flags int, perm os.FileMode) (*Segment, error) {
	fail := func(err error) error {
		return &OpError{Op: "shmget", Dir: s.Dir(), Key: key, ID: -1, Err: err}
	}
	if key < math.MinInt32 || key > math.MaxUint32 || size < 0 {
		return nil, fail(syscall.EINVAL)
	}
	k := int32(uint32(key))
	if key < 0 {
		k = int32(key)
	}
	id, err := s.e.Shmget(k, uint64(size), flags|int(perm.Perm()))
	if err != nil {
		return nil, fail(err)
	}
	return &Segment{store: s, id: id}, nil
}

// Segment returns the segment with the given id without checking that it
// exists: its methods fail with EINVAL if it does not (as the kernel's
// calls do on an unknown id).
func (s *Store) Segment(id int) *Segment { return &Segment{store: s, id: id} }

// Info is what IPC_INFO and SHM_INFO say about a store.
type Info struct {
	MaxIndex int // highest index in use (0 when none is)

	// IPC_INFO: the store's limits (the kernel's defaults, not the IPC
	// namespace's kernel.shm* sysctls, which goshm does not use).
	Shmmax, Shmmin, Shmmni, Shmseg, Shmall uint64

	// SHM_INFO: usage, in pages for the sizes.
	UsedIDs int
	ShmTot  uint64 // pages of all segments
	ShmRSS  uint64 // pages with disk blocks (all of them unless GOSHM_SPARSE=1)
	ShmSwp  uint64 // always 0: a file-backed segment is never in swap
}

// Info is shmctl(IPC_INFO) and shmctl(SHM_INFO) on the store.
func (s *Store) Info() (*Info, error) {
	_, lim, err := s.e.IPCInfo()
	if err != nil {
		return nil, s.opErr("shmctl IPC_INFO", -1, err)
	}
	max, use, err := s.e.ShmInfo()
	if err != nil {
		return nil, s.opErr("shmctl SHM_INFO", -1, err)
	}
	return &Info{
		MaxIndex: max,
		Shmmax:   lim.Shmmax, Shmmin: lim.Shmmin, Shmmni: lim.Shmmni,
		Shmseg: lim.Shmseg, Shmall: lim.Shmall,
		UsedIDs: use.UsedIDs, ShmTot: use.Tot, ShmRSS: use.RSS, ShmSwp: use.Swp,
	}, nil
}

// List returns every segment of the store, found as ipcs finds them:
// SHM_INFO gives the highest index in use, and SHM_STAT_ANY reads each
// index up to it (no read permission needed).  Segments marked for removal
// that are still attached are listed, with Removed() true.
func (s *Store) List() ([]Stat, error) {
	max, _, err := s.e.ShmInfo()
	if err != nil {
		return nil, s.opErr("shmctl SHM_INFO", -1, err)
	}
	var out []Stat
	for idx := 0; idx <= max; idx++ {
		id, ds, err := s.e.Stat(idx, engine.SHM_STAT_ANY)
		if err == syscall.EINVAL {
			continue // a free index
		}
		if err != nil {
			return nil, s.opErr("shmctl SHM_STAT_ANY", idx, err)
		}
		out = append(out, statOf(id, ds))
	}
	return out, nil
}

// GCKind says what a GCItem is.
type GCKind int

// GC item kinds.
const (
	GCSegment GCKind = GCKind(engine.GCSegment) // a removed segment nobody attaches
	GCFile    GCKind = GCKind(engine.GCFile)    // a file no segment owns
	// GCKernel is a one-byte kernel segment of the caller's IPC namespace
	// that counted attaches of a segment of this store that is gone.
	GCKernel GCKind = GCKind(engine.GCKernel)
)

func (k GCKind) String() string {
	switch k {
	case GCSegment:
		return "segment"
	case GCFile:
		return "file"
	case GCKernel:
		return "kernel"
	}
	return "unknown"
}

// GCItem is one thing GC removed, or would remove.
type GCItem struct {
	Kind GCKind
	ID   int    // the segment's id, the kernel shmid for GCKernel, -1 for a file
	Path string // its data file, or the stray file
}

// GC destroys the segments that are marked for removal and attached
// nowhere (their last attach ended in an exit or a kill, where no detach
// ran), and removes the files that no segment owns: temporary files of
// creations that were interrupted and token files of IPC namespaces that
// are gone.  With dryRun it only reports them (like any call on the store,
// it may still finish a cleanup a killed process left half-done).  Segments that are attached
// somewhere, or not removed, are never touched.
func (s *Store) GC(dryRun bool) ([]GCItem, error) {
	items, err := s.e.GC(dryRun)
	if err != nil {
		return nil, s.opErr("gc", -1, err)
	}
	out := make([]GCItem, len(items))
	for i, it := range items {
		out[i] = GCItem{Kind: GCKind(it.Kind), ID: it.ID, Path: it.Path}
	}
	return out, nil
}

// Health is what the store's registry says about itself.
type Health struct {
	FormatVersion int   // of the registry (docs/FORMAT.md)
	Repairs       int   // repairs made by the first use after a reboot, ever
	RepairedSlots int   // at the last repair: segments that did not survive
	RepairedFiles int   // and files removed
	RepairedAt    int64 // when, seconds since the epoch; 0 = never
}

// Health reads it (docs/DURABILITY.md, "After a power cut").
func (s *Store) Health() (Health, error) {
	h, err := s.e.Health()
	if err != nil {
		return Health{}, s.opErr("health", -1, err)
	}
	return Health(h), nil
}

// SyncAll flushes every segment of the store to disk, as Segment.Sync does
// for one.
func (s *Store) SyncAll() error {
	if err := s.e.Sync(-1); err != nil {
		return s.opErr("sync", -1, err)
	}
	return nil
}

// Version is the engine's version, e.g. "0.1.0".
func Version() string { return engine.Version() }

// Routing is what GOSHM_KEYS gives goshm in this process: the keys and
// ranges it serves, and "private" when IPC_PRIVATE is among them; "" when
// GOSHM_KEYS is unset and goshm serves every key.  Other keys go to the
// kernel's System V calls in programs that use the preloaded library.
// Package goshm's own calls always use the store.
func Routing() (string, error) {
	keys, err := engine.Routing()
	if err != nil {
		return "", fmt.Errorf("GOSHM_KEYS=%q: %w", os.Getenv("GOSHM_KEYS"), err)
	}
	return keys, nil
}
