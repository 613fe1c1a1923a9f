package engine

/*
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "goshm.h"

// shmat's failure value, which cgo cannot spell as a Go constant.
static int gs_go_failed(void *p) { return p == (void *)-1; }

// IPC_INFO and SHM_INFO fill structs smaller than the shmid_ds that
// shmctl's prototype names; the casts stay on the C side.
static int gs_go_ipc_info(goshm_store *s, struct shminfo *out)
{
	return goshm_store_shmctl(s, 0, IPC_INFO, (struct shmid_ds *)out);
}

static int gs_go_shm_info(goshm_store *s, struct shm_info *out)
{
	return goshm_store_shmctl(s, 0, SHM_INFO, (struct shmid_ds *)out);
}

// goshm_store_gc reports through a callback, and C must never call Go
// here; so the items are collected on the C side, as "kind id path\0"
// records in a malloc'd buffer that Go reads and frees afterwards.
struct gs_go_gc_buf {
	char *data;
	size_t len, cap;
	int oom;
};

static void gs_go_gc_collect(enum goshm_gc_kind kind, const char *name, int id,
                             void *arg)
{
	struct gs_go_gc_buf *b = arg;
	char head[32];
	int n = snprintf(head, sizeof head, "%d %d ", (int)kind, id);
	size_t need = (size_t)n + strlen(name) + 1;
	if (b->oom)
		return;
	if (b->len + need > b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 4096;
		while (cap < b->len + need)
			cap *= 2;
		char *p = realloc(b->data, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, head, (size_t)n);
	strcpy(b->data + b->len + n, name);
	b->len += need;
}

static int gs_go_gc(goshm_store *s, int dry_run, struct gs_go_gc_buf *b)
{
	int r = goshm_store_gc(s, dry_run, gs_go_gc_collect, b);
	if (r >= 0 && b->oom) {
		errno = ENOMEM;
		return -1;
	}
	return r;
}
*/
import "C"

// No fmt (nor os, reflect...): every package linked here is initialised
// in every process libgoshm-go.so is preloaded into, before the program
// runs (capi/runtime_threads.c waits for the runtime's init).
import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// This file is the Go face of the engine for package goshm and the goshm
// command: cgo types cannot cross package boundaries, so every call takes
// and returns Go values.  Errors are the engine's errno as syscall.Errno,
// without context; the callers add it.

// Store is an open store: a handle interned by the engine for the life of
// the process, so it is never closed.
type Store struct {
	p   *C.goshm_store
	dir string
}

// OpenStore opens the store in dir ("" means the default store: GOSHM_DIR,
// else /var/lib/goshm).  Like the C call it does not touch the disk; the
// store is created by the first call that needs it.
func OpenStore(dir string) (*Store, error) {
	var p *C.goshm_store
	var err error
	if dir == "" {
		p, err = C.goshm_store_open(nil)
	} else {
		cdir := C.CString(dir)
		p, err = C.goshm_store_open(cdir)
		C.free(unsafe.Pointer(cdir))
	}
	if p == nil {
		return nil, errnoOf(err)
	}
	return &Store{p: p, dir: C.GoString(C.goshm_store_path(p))}, nil
}

// Dir is the store's directory as the engine normalized it (absolute, no
// trailing slash).
func (s *Store) Dir() string { return s.dir }

// Shmget is shmget(2) on this store.
func (s *Store) Shmget(key int32, size uint64, flags int) (int, error) {
	if uint64(C.size_t(size)) != size {
		return -1, syscall.EINVAL
	}
	r, err := C.goshm_store_shmget(s.p, C.key_t(key), C.size_t(size), C.int(flags))
	if r < 0 {
		return -1, errnoOf(err)
	}
	return int(r), nil
}

// Shmat is shmat(2) on this store, always at an address the kernel
// chooses (Go code has no use for fixed addresses).
func (s *Store) Shmat(id int, flags int) (unsafe.Pointer, error) {
	p, err := C.goshm_store_shmat(s.p, C.int(id), nil, C.int(flags))
	if C.gs_go_failed(p) != 0 {
		return nil, errnoOf(err)
	}
	return p, nil
}

// Shmdt is shmdt(2).  Attaches belong to the process, not to a store.
func Shmdt(addr unsafe.Pointer) error {
	r, err := C.goshm_shmdt(addr)
	if r < 0 {
		return errnoOf(err)
	}
	return nil
}

// ShmidDS holds every field of struct shmid_ds, as Go values.  It is a
// copy, not a mirror of the C layout, so it is the same on every
// architecture.
type ShmidDS struct {
	Key                  int32
	UID, GID, CUID, CGID uint32
	Mode                 uint32 // permission bits | SHM_DEST | SHM_LOCKED
	Seq                  uint16
	Segsz                uint64
	Atime, Dtime, Ctime  int64 // seconds since the epoch, 0 = never
	Cpid, Lpid           int32
	Nattch               uint64
}

func fromC(d *C.struct_shmid_ds) ShmidDS {
	return ShmidDS{
		Key:    int32(d.shm_perm.__key),
		UID:    uint32(d.shm_perm.uid),
		GID:    uint32(d.shm_perm.gid),
		CUID:   uint32(d.shm_perm.cuid),
		CGID:   uint32(d.shm_perm.cgid),
		Mode:   uint32(d.shm_perm.mode),
		Seq:    uint16(d.shm_perm.__seq),
		Segsz:  uint64(d.shm_segsz),
		Atime:  int64(d.shm_atime),
		Dtime:  int64(d.shm_dtime),
		Ctime:  int64(d.shm_ctime),
		Cpid:   int32(d.shm_cpid),
		Lpid:   int32(d.shm_lpid),
		Nattch: uint64(d.shm_nattch),
	}
}

// Stat is shmctl(id, cmd, buf) for the commands that fill a shmid_ds:
// IPC_STAT (id is an id), SHM_STAT and SHM_STAT_ANY (id is an index; the
// result is the segment's id).
func (s *Store) Stat(id, cmd int) (int, ShmidDS, error) {
	switch cmd {
	case C.IPC_STAT, C.SHM_STAT, C.SHM_STAT_ANY:
	default:
		return -1, ShmidDS{}, syscall.EINVAL
	}
	var d C.struct_shmid_ds
	r, err := C.goshm_store_shmctl(s.p, C.int(id), C.int(cmd), &d)
	if r < 0 {
		return -1, ShmidDS{}, errnoOf(err)
	}
	return int(r), fromC(&d), nil
}

// Set is shmctl(id, IPC_SET): the owner and the permission bits.
func (s *Store) Set(id int, uid, gid, mode uint32) error {
	var d C.struct_shmid_ds
	d.shm_perm.uid = C.uid_t(uid)
	d.shm_perm.gid = C.gid_t(gid)
	d.shm_perm.mode = C.mode_t(mode)
	r, err := C.goshm_store_shmctl(s.p, C.int(id), C.IPC_SET, &d)
	if r < 0 {
		return errnoOf(err)
	}
	return nil
}

// Ctl is shmctl for the commands without a buffer: IPC_RMID, SHM_LOCK and
// SHM_UNLOCK.
func (s *Store) Ctl(id, cmd int) error {
	switch cmd {
	case C.IPC_RMID, C.SHM_LOCK, C.SHM_UNLOCK:
	default:
		return syscall.EINVAL
	}
	r, err := C.goshm_store_shmctl(s.p, C.int(id), C.int(cmd), nil)
	if r < 0 {
		return errnoOf(err)
	}
	return nil
}

// Limits is struct shminfo (IPC_INFO): the store's limits, which are the
// kernel's defaults and not the IPC namespace's sysctls.
type Limits struct {
	Shmmax, Shmmin, Shmmni, Shmseg, Shmall uint64
}

// IPCInfo is shmctl(0, IPC_INFO); maxIndex is the highest index in use
// (0 when none is).
func (s *Store) IPCInfo() (maxIndex int, l Limits, err error) {
	var info C.struct_shminfo
	r, cerr := C.gs_go_ipc_info(s.p, &info)
	if r < 0 {
		return -1, Limits{}, errnoOf(cerr)
	}
	return int(r), Limits{
		Shmmax: uint64(info.shmmax),
		Shmmin: uint64(info.shmmin),
		Shmmni: uint64(info.shmmni),
		Shmseg: uint64(info.shmseg),
		Shmall: uint64(info.shmall),
	}, nil
}

// Usage is struct shm_info (SHM_INFO).  Tot and RSS are in pages.
type Usage struct {
	UsedIDs       int
	Tot, RSS, Swp uint64
	SwapAttempts  uint64
	SwapSuccesses uint64
}

// ShmInfo is shmctl(0, SHM_INFO); maxIndex as for IPCInfo.
func (s *Store) ShmInfo() (maxIndex int, u Usage, err error) {
	var info C.struct_shm_info
	r, cerr := C.gs_go_shm_info(s.p, &info)
	if r < 0 {
		return -1, Usage{}, errnoOf(cerr)
	}
	return int(r), Usage{
		UsedIDs:       int(info.used_ids),
		Tot:           uint64(info.shm_tot),
		RSS:           uint64(info.shm_rss),
		Swp:           uint64(info.shm_swp),
		SwapAttempts:  uint64(info.swap_attempts),
		SwapSuccesses: uint64(info.swap_successes),
	}, nil
}

// GC item kinds, as goshm_gc_kind.
const (
	GCSegment = int(C.GOSHM_GC_SEGMENT)
	GCFile    = int(C.GOSHM_GC_FILE)
	GCKernel  = int(C.GOSHM_GC_KERNEL)
)

// GCItem is one thing that goshm_store_gc removed (or would remove).
type GCItem struct {
	Kind int    // GCSegment, GCFile or GCKernel
	ID   int    // the segment's id for GCSegment, the kernel shmid for GCKernel, else -1
	Path string // the data file, or the stray file
}

// GC is goshm_store_gc.
func (s *Store) GC(dryRun bool) ([]GCItem, error) {
	var b C.struct_gs_go_gc_buf
	dry := C.int(0)
	if dryRun {
		dry = 1
	}
	r, err := C.gs_go_gc(s.p, dry, &b)
	defer C.free(unsafe.Pointer(b.data))
	if r < 0 {
		return nil, errnoOf(err)
	}
	raw := C.GoBytes(unsafe.Pointer(b.data), C.int(b.len))
	var items []GCItem
	for _, rec := range bytes.Split(raw, []byte{0}) {
		if len(rec) == 0 {
			continue
		}
		it, perr := parseGCRecord(string(rec))
		if perr != nil {
			return nil, perr
		}
		items = append(items, it)
	}
	return items, nil
}

func parseGCRecord(rec string) (GCItem, error) {
	var it GCItem
	kind, rest, ok1 := strings.Cut(rec, " ")
	id, path, ok2 := strings.Cut(rest, " ")
	k, err1 := strconv.Atoi(kind)
	n, err2 := strconv.Atoi(id)
	if !ok1 || !ok2 || err1 != nil || err2 != nil {
		return it, errors.New("engine: malformed gc record " + strconv.Quote(rec))
	}
	return GCItem{Kind: k, ID: n, Path: path}, nil
}

// Sync is goshm_store_sync: segment id (-1: every segment) flushed to disk
// with what the store needs to find it again.
func (s *Store) Sync(id int) error {
	r, err := C.goshm_store_sync(s.p, C.int(id))
	if r < 0 {
		return errnoOf(err)
	}
	return nil
}

// Health is goshm_store_health: the store's format, and the repairs made
// after reboots.
type Health struct {
	FormatVersion                int
	Repairs                      int
	RepairedSlots, RepairedFiles int
	RepairedAt                   int64 // seconds since the epoch, 0 = never
}

// Health reads the store's health record.
func (s *Store) Health() (Health, error) {
	var h C.struct_goshm_store_health
	r, err := C.goshm_store_health(s.p, &h)
	if r < 0 {
		return Health{}, errnoOf(err)
	}
	return Health{
		FormatVersion: int(h.format_version),
		Repairs:       int(h.repairs),
		RepairedSlots: int(h.repaired_slots),
		RepairedFiles: int(h.repaired_files),
		RepairedAt:    int64(h.repaired_at),
	}, nil
}

// Routing is goshm_routing: the keys GOSHM_KEYS gives goshm ("" when it is
// unset and goshm serves every key), or an error when it cannot be used.
func Routing() (string, error) {
	buf := make([]byte, 4096)
	r, err := C.goshm_routing((*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	if r < 0 {
		return "", errnoOf(err)
	}
	return string(buf[:r]), nil
}

// Version is the engine's version, e.g. "0.1.0".
func Version() string { return C.GoString(C.goshm_version()) }

// The System V constants, from the C headers the engine is built with.
const (
	IPC_PRIVATE  = C.IPC_PRIVATE
	IPC_CREAT    = C.IPC_CREAT
	IPC_EXCL     = C.IPC_EXCL
	IPC_NOWAIT   = C.IPC_NOWAIT
	IPC_RMID     = C.IPC_RMID
	IPC_SET      = C.IPC_SET
	IPC_STAT     = C.IPC_STAT
	IPC_INFO     = C.IPC_INFO
	SHM_INFO     = C.SHM_INFO
	SHM_STAT     = C.SHM_STAT
	SHM_STAT_ANY = C.SHM_STAT_ANY
	SHM_LOCK     = C.SHM_LOCK
	SHM_UNLOCK   = C.SHM_UNLOCK
	SHM_RDONLY   = C.SHM_RDONLY
	SHM_RND      = C.SHM_RND
	SHM_REMAP    = C.SHM_REMAP
	SHM_EXEC     = C.SHM_EXEC
	SHM_DEST     = C.SHM_DEST
	SHM_LOCKED   = C.SHM_LOCKED
)

// errnoOf turns cgo's errno into a syscall.Errno; a failed call that left
// errno at 0 would be an engine bug, reported as EIO rather than success.
func errnoOf(err error) error {
	if e, ok := err.(syscall.Errno); ok && e != 0 {
		return e
	}
	return syscall.EIO
}
