package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os/user"
	"strconv"
	"time"

	"github.com/goshm/goshm/goshm"
)

// parseKey reads a key as ipcrm does: decimal, or hex with 0x (and octal
// with a leading 0), in the range of key_t or its unsigned reading.
func parseKey(s string) (int, error) {
	v, err := strconv.ParseInt(s, 0, 64)
	if err != nil || v < math.MinInt32 || v > math.MaxUint32 {
		return 0, fmt.Errorf("failed to parse argument: '%s'", s)
	}
	return int(v), nil
}

// parseID reads a shmid: a non-negative decimal int.
func parseID(s string) (int, error) {
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("failed to parse argument: '%s'", s)
	}
	return int(v), nil
}

// parseIDs parses a command's ID arguments; a bad one is a usage error.
func parseIDs(cmd string, args []string) ([]int, error) {
	ids := make([]int, len(args))
	for i, a := range args {
		id, err := parseID(a)
		if err != nil {
			return nil, usagef("%s: %v", cmd, err)
		}
		ids[i] = id
	}
	return ids, nil
}

// hexKey is how ipcs prints a key.
func hexKey(k int) string { return fmt.Sprintf("0x%08x", uint32(int32(k))) }

// userName is the login name of uid, or the number when there is none.
func userName(uid uint32) string {
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		return u.Username
	}
	return strconv.FormatUint(uint64(uid), 10)
}

// ctime is how ipcs prints a time.
func ctime(t time.Time) string {
	if t.IsZero() {
		return "Not set"
	}
	return t.Local().Format("Mon Jan _2 15:04:05 2006")
}

func epoch(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func status(s *goshm.Stat) string {
	st := ""
	if s.Removed() {
		st = "dest"
	}
	if s.Locked() {
		if st != "" {
			st += " "
		}
		st += "locked"
	}
	return st
}

// segmentJSON is a segment in --json output: every shmid_ds field under
// its C name, times in seconds since the epoch (0 = never).
type segmentJSON struct {
	Kind   string `json:"kind"` // "sysv" (ls also lists "posix" objects)
	ID     int    `json:"shmid"`
	Key    int    `json:"key"`
	KeyHex string `json:"key_hex"`
	Seq    uint16 `json:"seq"`
	UID    uint32 `json:"uid"`
	GID    uint32 `json:"gid"`
	CUID   uint32 `json:"cuid"`
	CGID   uint32 `json:"cgid"`
	Owner  string `json:"owner"`
	Mode   uint32 `json:"mode"`
	Perms  string `json:"perms"`
	Bytes  uint64 `json:"bytes"`
	Atime  int64  `json:"atime"`
	Dtime  int64  `json:"dtime"`
	Ctime  int64  `json:"ctime"`
	CPID   int    `json:"cpid"`
	LPID   int    `json:"lpid"`
	Nattch uint64 `json:"nattch"`
	Dest   bool   `json:"dest"`
	Locked bool   `json:"locked"`
}

func toJSON(s *goshm.Stat) segmentJSON {
	return segmentJSON{
		Kind: "sysv", ID: s.ID, Key: s.Key, KeyHex: hexKey(s.Key), Seq: s.Seq,
		UID: s.UID, GID: s.GID, CUID: s.CUID, CGID: s.CGID,
		Owner: userName(s.UID), Mode: s.Mode,
		Perms: fmt.Sprintf("%04o", s.Mode&0o777), Bytes: s.Size,
		Atime: epoch(s.Atime), Dtime: epoch(s.Dtime), Ctime: epoch(s.Ctime),
		CPID: s.CPID, LPID: s.LPID, Nattch: s.Nattch,
		Dest: s.Removed(), Locked: s.Locked(),
	}
}

func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
