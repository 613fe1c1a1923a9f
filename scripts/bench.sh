#!/usr/bin/env bash
# make bench: goshm against the kernel's System V shared memory, the same
# loops in the same run, under both builds of the library.
#
# Every benchmark program (bench/*.c) runs natively in a fresh IPC
# namespace, and with a goshm library preloaded and a private store (also
# in a fresh IPC namespace, where goshm keeps its presence attaches):
# build/libgoshm.so, the C compiler's build and the default, and
# build/libgoshm-go.so, the Go c-shared build.  The modes take turns round
# by round (startup: run by run), so that the machine's background load
# falls on all of them, and each is shown as a ratio to native measured
# in the same run.  PostgreSQL's pgbench runs the same way against three
# servers.  docs/BENCHMARKS.md explains how to read the output.
#
# Needs root (unshare --ipc; the disk section mounts loop devices).
#
# Settings, from the environment:
#   GOSHM_BENCH_ROUNDS=5        rounds per System V operation; the median is shown
#   GOSHM_BENCH_ITERS=N         iterations per round (default: calibrated to ~0.1 s)
#   GOSHM_BENCH_STARTS=300      runs of /bin/true for the startup time
#   GOSHM_BENCH_PG_SECONDS=5    length of each pgbench run
#   GOSHM_BENCH_PG_ROUNDS=5     pgbench runs per server and kind; the median is shown
#   GOSHM_BENCH_DISK_SECONDS=S  length of each hot-counter run (default: the kernel's
#                               dirty_expire_centisecs + 10 s, so that writeback happens)
#   GOSHM_BENCH_CALLGRIND=1     also count user-space instructions per call (valgrind)
#   GOSHM_BENCH_QUICK=1         one iteration of everything: checks that the benchmark
#                               works, its numbers mean nothing (the smoke test uses it)
#   GOSHM_BENCH_LIB             the default library (default build/libgoshm.so)
#   GOSHM_BENCH_GO_LIB          the Go-built library (default build/libgoshm-go.so)
#   GOSHM_BENCH_BIN             where the programs are built (default build/bench)
#   TMPDIR                      where the stores and PostgreSQL's clusters live
set -euo pipefail
cd "$(dirname "$0")/.."

LIB=$(realpath "${GOSHM_BENCH_LIB:-build/libgoshm.so}")
GO_LIB=$(realpath "${GOSHM_BENCH_GO_LIB:-build/libgoshm-go.so}")
BIN=${GOSHM_BENCH_BIN:-build/bench}
ROUNDS=${GOSHM_BENCH_ROUNDS:-5}
ITERS=${GOSHM_BENCH_ITERS:-}
STARTS=${GOSHM_BENCH_STARTS:-300}
FORKS=2000 # forks counted for their page faults
PG_SECONDS=${GOSHM_BENCH_PG_SECONDS:-5}
PG_ROUNDS=${GOSHM_BENCH_PG_ROUNDS:-5}
expire_s=$(($(cat /proc/sys/vm/dirty_expire_centisecs) / 100))
DISK_SECONDS=${GOSHM_BENCH_DISK_SECONDS:-$((expire_s + 10))}
DISK_MIB=64
CG_LO=10 CG_HI=110 # iterations of the two callgrind runs
if [ "${GOSHM_BENCH_QUICK:-}" = 1 ]; then
	ROUNDS=1 ITERS=1 STARTS=3 FORKS=3 DISK_SECONDS=1 CG_LO=1 CG_HI=2 PG_SECONDS=1 PG_ROUNDS=1
fi
PG_BIN=/usr/lib/postgresql/15/bin

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (unshare --ipc, losetup, mount)"
for lib in "$LIB" "$GO_LIB"; do
	[ -f "$lib" ] || die "$lib is missing: run make"
done
for tool in unshare setpriv losetup mkfs.ext4 mount gcc; do
	command -v "$tool" >/dev/null || die "needs $tool (util-linux, e2fsprogs, gcc)"
done
for tool in initdb postgres pg_isready pgbench; do
	[ -x "$PG_BIN/$tool" ] || die "needs $PG_BIN/$tool (postgresql-15)"
done
id postgres >/dev/null 2>&1 || die "needs the postgres account (postgresql-15)"

# ---- Build the programs. ----
mkdir -p "$BIN"
BIN=$(realpath "$BIN")
for src in bench/*.c; do
	${CC:-gcc} -O2 -g -Wall -Wextra -Werror -o "$BIN/$(basename "$src" .c)" "$src"
done

# ---- Scratch space, cleaned up whatever happens. ----
work=$(mktemp -d "${TMPDIR:-/tmp}/goshm-bench.XXXXXX")
chmod 755 "$work"
mounts=() loops=() servers=()
cleanup() {
	for pid in "${servers[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
	for pid in "${servers[@]}"; do wait "$pid" 2>/dev/null || true; done
	for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
	for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

native() { unshare --ipc env -u LD_PRELOAD "$@"; }
goshm_in() { # goshm_in STORE CMD...: under the default library
	goshm_with "$LIB" "$@"
}
goshm_with() { # goshm_with LIB STORE CMD...
	local lib=$1 store=$2
	shift 2
	unshare --ipc env LD_PRELOAD="$lib" GOSHM_DIR="$store" "$@"
}
# The three modes every comparison runs in, and what each is called.
modes=(native c go)
declare -A mode_lib=([native]="" [c]="$LIB" [go]="$GO_LIB")
in_mode() { # in_mode MODE STORE CMD...
	local mode=$1 store=$2
	shift 2
	if [ "$mode" = native ]; then native "$@"; else goshm_with "${mode_lib[$mode]}" "$store" "$@"; fi
}
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 2) / 2)] }'; }
# take_turns ROUNDS FN ARGS...: runs `FN MODE ARGS...` ROUNDS times in
# every mode, the modes taking turns round by round so that a burst of
# background load cannot fall on one mode's rounds only, and sets
# MEDIAN[MODE] to the median of the numbers FN printed.
declare -A MEDIAN
take_turns() {
	local rounds=$1 fn=$2 r mode v
	shift 2
	local -A got=()
	for ((r = 0; r < rounds; r++)); do
		for mode in "${modes[@]}"; do
			v=$("$fn" "$mode" "$@")
			[ -n "$v" ] || die "$fn $mode $* printed nothing"
			got[$mode]+="$v"$'\n'
		done
	done
	for mode in "${modes[@]}"; do
		MEDIAN[$mode]=$(median <<<"${got[$mode]}")
	done
}

# Human units for a number of nanoseconds, bytes or kB.
fmt_ns() { awk -v v="$1" 'BEGIN {
	if (v < 1e3) printf "%d ns", v; else if (v < 1e6) printf "%.2f us", v / 1e3;
	else if (v < 1e9) printf "%.2f ms", v / 1e6; else printf "%.2f s", v / 1e9 }'; }
fmt_bytes() { awk -v v="$1" 'BEGIN {
	if (v < 1024) printf "%d B", v; else if (v < 1048576) printf "%.1f KiB", v / 1024;
	else printf "%.1f MiB", v / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else printf "-" }'; }
row() { printf '  %-44s %12s %12s %13s\n' "$@"; }
row2() { printf '  %-44s %12s %12s\n' "$@"; } # two values, no ratio
# Native and both libraries, then how each library compares with native.
row5() { printf '  %-44s %12s %12s %14s %11s %14s\n' "$@"; }
row5_head() { row5 "$1" "$2" "libgoshm.so" "libgoshm-go.so" ".so/$2" "-go.so/$2"; }

# ---- Header: what this run is. ----
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
os=$(. /etc/os-release && echo "$PRETTY_NAME")
store_fs=$(findmnt -no FSTYPE,SOURCE -T "$work" | awk '{ print $1 " on " $2 }') || store_fs="file system unknown"
echo "goshm benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "  machine: $cpu, $(nproc) CPUs, $mem RAM; $os; Linux $(uname -r) $(uname -m)"
echo "  library: $LIB ($(stat -c %s "$LIB") bytes, the C compiler's build)"
echo "  Go build: $GO_LIB ($(stat -c %s "$GO_LIB") bytes, go -buildmode=c-shared)"
echo "  stores:  $work/store-* ($store_fs)"
[ "${GOSHM_BENCH_QUICK:-}" = 1 ] && echo "  QUICK MODE: one iteration of everything, the numbers mean nothing"
echo

# A fresh ext4 file system (with its journal, as mkfs.ext4 makes it) on
# a loop device of its own.
new_fs() { # new_fs NAME: sets FS_MNT and FS_DEV (not in a subshell: cleanup needs them)
	local img=$work/$1.img
	FS_MNT=$work/$1.mnt
	truncate -s $((DISK_MIB * 4))M "$img"
	# Initialise everything now, or ext4lazyinit writes during the run.
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$img"
	FS_DEV=$(losetup -f --show "$img")
	loops+=("$FS_DEV")
	mkdir "$FS_MNT"
	mount "$FS_DEV" "$FS_MNT"
	mounts+=("$FS_MNT")
	chmod 1777 "$FS_MNT"
	sync -f "$FS_MNT"
}
sectors() { awk '{ print $7 }' "/sys/block/$(basename "$1")/stat"; }

# ---- 1. The System V calls. ----
ops=(shmget_existing create_destroy attach_detach_4k attach_detach_4k_held attach_detach_64m
	ipc_stat write_64m create_touch_destroy_64m fork_0 fork_4)
declare -A label=(
	[shmget_existing]="shmget of an existing key"
	[create_destroy]="shmget(IPC_PRIVATE, 4 KiB) + IPC_RMID"
	[attach_detach_4k]="shmat + shmdt, 4 KiB segment"
	[attach_detach_4k_held]="shmat + shmdt, 4 KiB, another attach held"
	[attach_detach_64m]="shmat + shmdt, 64 MiB segment"
	[ipc_stat]="shmctl(IPC_STAT), attached once"
	[write_64m]="memset of 64 MiB through an attach"
	[create_touch_destroy_64m]="create, attach, fault in 64 MiB, destroy"
	[fork_0]="fork + _exit + wait, no attach"
	[fork_4]="fork + _exit + wait, 4 attaches of 1 MiB"
)
# One process per round and mode; each warms the operation up (and
# calibrates it) before its round.
shmops_args=(-r 1)
[ -n "$ITERS" ] && shmops_args+=(-i "$ITERS")
shmops_round() { # shmops_round MODE OP: ns per operation
	in_mode "$1" "$work/store-$1" "$BIN/shmops" "${shmops_args[@]}" "$2" | awk '{ print $3 }'
}
echo "System V calls: time per operation, median of $ROUNDS rounds (the modes take turns)"
row5_head "operation" "native"
for op in "${ops[@]}"; do
	take_turns "$ROUNDS" shmops_round "$op"
	n=${MEDIAN[native]} c=${MEDIAN[c]} g=${MEDIAN[go]}
	row5 "${label[$op]}" "$(fmt_ns "$n")" "$(fmt_ns "$c")" "$(fmt_ns "$g")" "$(ratio "$c" "$n")" "$(ratio "$g" "$n")"
done
# Creation and removal make and remove files: once more with the stores on
# a journaled ext4 of their own, what a Docker volume usually is (the
# working directory's file system may have no journal, or be a tmpfs).
new_fs journaled
journaled_dir=$FS_MNT
shmops_round_journaled() { # shmops_round_journaled MODE OP
	in_mode "$1" "$journaled_dir/store-$1" "$BIN/shmops" "${shmops_args[@]}" "$2" | awk '{ print $3 }'
}
take_turns "$ROUNDS" shmops_round_journaled create_destroy
n=${MEDIAN[native]} c=${MEDIAN[c]} g=${MEDIAN[go]}
row5 "create + IPC_RMID, store on journaled ext4" "$(fmt_ns "$n")" "$(fmt_ns "$c")" "$(fmt_ns "$g")" "$(ratio "$c" "$n")" "$(ratio "$g" "$n")"
echo

# ---- 1b. POSIX shared memory (GOSHM_POSIX=1), against /dev/shm. ----
declare -A posix_label
# Natively the objects are in /dev/shm (tmpfs); under goshm they are files
# in the store's posix/ directory, on the store's file system.
posix_label=([open_map_close]="shm_open + mmap + munmap + close, 4 KiB"
	[create_unlink]="shm_open(O_CREAT|O_EXCL) + close + shm_unlink")
posixops_round() { # posixops_round MODE OP: ns per operation
	in_mode "$1" "$work/store-$1" env GOSHM_POSIX=1 "$BIN/posixops" "${shmops_args[@]}" "$2" |
		awk '{ print $3 }'
}
echo "POSIX shared memory: time per operation, median of $ROUNDS rounds (GOSHM_POSIX=1; native: /dev/shm)"
row5_head "operation" "/dev/shm"
for op in open_map_close create_unlink; do
	take_turns "$ROUNDS" posixops_round "$op"
	n=${MEDIAN[native]} c=${MEDIAN[c]} g=${MEDIAN[go]}
	row5 "${posix_label[$op]}" "$(fmt_ns "$n")" "$(fmt_ns "$c")" "$(fmt_ns "$g")" "$(ratio "$c" "$n")" "$(ratio "$g" "$n")"
done
echo

# ---- 2. User-space instructions per call (optional, repeatable). ----
if [ "${GOSHM_BENCH_CALLGRIND:-}" = 1 ]; then
	command -v valgrind >/dev/null || die "GOSHM_BENCH_CALLGRIND=1 needs valgrind"
	# Instructions executed inside the timed loops (shmops' op_* functions
	# and what they call, on the main thread), in a run of CG_HI iterations
	# minus one of CG_LO, per iteration.  Each run gets a fresh store.
	# Kernel work is not counted.  Only libgoshm.so is counted: the Go
	# build runs the same engine code, compiled by the same compiler with
	# the same flags.
	instr() { # instr MODE OP ITERS
		local out=$work/cg.$1.$2.$3
		local cg=(valgrind --tool=callgrind "--toggle-collect=op_*" --callgrind-out-file="$out"
			"$BIN/shmops" -r 1 -i "$3" "$2")
		if [ "$1" = native ]; then
			native "${cg[@]}" >/dev/null 2>&1
		else
			goshm_in "$out.store" "${cg[@]}" >/dev/null 2>&1
		fi
		awk '/^totals:/ { print $2 }' "$out"
	}
	echo "User-space instructions per call (callgrind; kernel work not counted)"
	row "operation" "native" "libgoshm.so" ".so/native"
	for op in shmget_existing create_destroy attach_detach_4k ipc_stat; do
		n=$((($(instr native "$op" $CG_HI) - $(instr native "$op" $CG_LO)) / (CG_HI - CG_LO)))
		g=$((($(instr goshm "$op" $CG_HI) - $(instr goshm "$op" $CG_LO)) / (CG_HI - CG_LO)))
		row "${label[$op]}" "$n" "$g" "$(ratio "$g" "$n")"
	done
	echo
fi

# ---- 3. What the preloaded library costs every process. ----
# A process that never calls System V still loads the library (and, for
# libgoshm-go.so, its dormant Go runtime): count its threads and memory,
# and its startup time.
footprint() { # footprint CMD...: "Field value" lines of a sleeping process
	"$@" sleep 60 &
	local pid=$!
	sleep 0.5 # the Go runtime has started its threads long before this
	awk '/^(Threads|VmSize|VmRSS|RssAnon|RssFile):/ { print $1, $2 }' "/proc/$pid/status"
	awk '/^(Pss|Private_Dirty):/ { print $1, $2 }' "/proc/$pid/smaps_rollup"
	kill "$pid"
	wait "$pid" 2>/dev/null || true
}
plain=$(footprint env -u LD_PRELOAD)
pre_c=$(footprint env LD_PRELOAD="$LIB" GOSHM_DIR="$work/store-c")
pre_go=$(footprint env LD_PRELOAD="$GO_LIB" GOSHM_DIR="$work/store-go")
field() { awk -v f="$2:" '$1 == f { print $2 }' <<<"$1"; }
echo "The library in a process that never calls it (sleep; /proc/PID/status, smaps_rollup)"
row5_head "" "plain"
t0=$(field "$plain" Threads) t1=$(field "$pre_c" Threads) t2=$(field "$pre_go" Threads)
row5 "threads" "$t0" "$t1" "$t2" "$(ratio "$t1" "$t0")" "$(ratio "$t2" "$t0")"
for f in VmSize VmRSS RssAnon RssFile Pss Private_Dirty; do
	k0=$(field "$plain" "$f") k1=$(field "$pre_c" "$f") k2=$(field "$pre_go" "$f")
	row5 "$f" "$(fmt_bytes $((k0 * 1024)))" "$(fmt_bytes $((k1 * 1024)))" "$(fmt_bytes $((k2 * 1024)))" \
		"$(ratio "$k1" "$k0")" "$(ratio "$k2" "$k0")"
done
starts=$(GOSHM_DIR="$work/store-start" "$BIN/startup" "$STARTS" "-,$LIB,$GO_LIB" /bin/true | awk '{ print $3 }')
read -r -d '' s0 s1 s2 <<<"$starts" || true
row5 "/bin/true, fork to exit (median of $STARTS)" "$(fmt_ns "$s0")" "$(fmt_ns "$s1")" "$(fmt_ns "$s2")" \
	"$(ratio "$s1" "$s0")" "$(ratio "$s2" "$s0")"
# Page faults of a fork: a count that load does not move, which shows a
# library whose fork handlers write more pages than they did.
faults() { in_mode "$1" "$work/store-$1" "$BIN/forkfaults" "$FORKS"; }
read -r _ p0 c0 <<<"$(faults native)"
read -r _ p1 c1 <<<"$(faults c)"
read -r _ p2 c2 <<<"$(faults go)"
tenths() { printf '%d.%d' $(($1 / 10)) $(($1 % 10)); }
row5 "page faults per fork, parent ($FORKS forks)" "$(tenths "$p0")" "$(tenths "$p1")" "$(tenths "$p2")" \
	"$(ratio "$p1" "$p0")" "$(ratio "$p2" "$p0")"
row5 "page faults per fork, child" "$(tenths "$c0")" "$(tenths "$c1")" "$(tenths "$c2")" \
	"$(ratio "$c1" "$c0")" "$(ratio "$c2" "$c0")"
echo

# ---- 3b. Flushing to disk (docs/DURABILITY.md), under libgoshm.so. ----
# What GOSHM_SYNC=detach adds to an attach, a write and a detach, and what
# a goshm_sync() of a segment with a changed page costs; both wait for the
# store's disk (an fsync).  Native System V has nothing to flush.
flush_round() { # flush_round MODE: ns per attach+write+detach
	case $1 in
	native) native "$BIN/shmops" "${shmops_args[@]}" attach_write_detach ;;
	c) goshm_in "$work/store-c" "$BIN/shmops" "${shmops_args[@]}" attach_write_detach ;;
	go) goshm_in "$work/store-c" env GOSHM_SYNC=detach "$BIN/shmops" "${shmops_args[@]}" attach_write_detach ;;
	esac | awk '{ print $3 }'
}
echo "Flushing: shmat + change a byte + shmdt, median of $ROUNDS rounds (libgoshm.so)"
printf '  %-44s %12s %12s %14s %11s %14s\n' "" "native" "default" "GOSHM_SYNC=" "default/nat" "detach/nat"
take_turns "$ROUNDS" flush_round
n=${MEDIAN[native]} c=${MEDIAN[c]} g=${MEDIAN[go]}
printf '  %-44s %12s %12s %14s %11s %14s\n' "attach + write + detach" "$(fmt_ns "$n")" "$(fmt_ns "$c")" \
	"$(fmt_ns "$g")" "$(ratio "$c" "$n")" "$(ratio "$g" "$n")"
w=$(goshm_in "$work/store-c" "$BIN/shmops" "${shmops_args[@]}" write_sync | awk '{ print $3 }')
printf '  %-44s %12s %12s\n' "change a byte + goshm_sync()" "-" "$(fmt_ns "$w")"
echo

# ---- 3c. stress-ng --shm-sysv: bogo operations per second. ----
stressng_round() { # stressng_round MODE: bogo ops/s
	in_mode "$1" "$work/store-$1" stress-ng --shm-sysv 1 --timeout "$STRESS_SECONDS" \
		--metrics-brief 2>&1 | awk '$4 == "shm-sysv" && NF == 10 { print $9 }'
}
if command -v stress-ng >/dev/null; then
	STRESS_SECONDS=${GOSHM_BENCH_STRESS_SECONDS:-5}
	[ "${GOSHM_BENCH_QUICK:-}" = 1 ] && STRESS_SECONDS=1
	echo "stress-ng --shm-sysv 1 for ${STRESS_SECONDS} s: bogo ops/s (real time), median of $ROUNDS runs"
	row5_head "" "native"
	take_turns "$ROUNDS" stressng_round
	n=${MEDIAN[native]} c=${MEDIAN[c]} g=${MEDIAN[go]}
	row5 "bogo ops/s (higher is better)" "$n" "$c" "$g" "$(ratio "$c" "$n")" "$(ratio "$g" "$n")"
	echo
fi

# ---- 3d. System V semaphores. ----
semops_round() { # semops_round MODE OP: ns per operation
	local a=()
	[ -n "$ITERS" ] && a=(-i "$ITERS")
	in_mode "$1" "$work/store-$1" "$BIN/semops" "${a[@]}" "$2" | awk '{ print $3 }'
}
echo "Semaphores: time per operation, median of $ROUNDS rounds"
row5_head "operation" "native"
declare -A sem_label=(
	[pair]="semop -1 then +1, uncontended"
	[pair_undo]="the same with SEM_UNDO"
	[handoff]="handoff between two processes"
)
for op in pair pair_undo handoff; do
	take_turns "$ROUNDS" semops_round "$op"
	n=${MEDIAN[native]} c=${MEDIAN[c]} g=${MEDIAN[go]}
	row5 "${sem_label[$op]}" "$(fmt_ns "$n")" "$(fmt_ns "$c")" "$(fmt_ns "$g")" "$(ratio "$c" "$n")" "$(ratio "$g" "$n")"
done
echo

# ---- 4. PostgreSQL: pgbench against a server of each mode. ----
# Three clusters made from one initdb, each served in its own IPC
# namespace: natively, under libgoshm.so and under libgoshm-go.so, with
# the settings of tests/realprog that put all of PostgreSQL's shared
# memory in System V segments (so goshm serves them).  pgbench -S runs
# against each in turn, round by round, with a new connection per
# transaction (-C: a fork of the postmaster per connection, which is
# where a preloaded library shows) and with persistent connections.
pg_uid=$(id -u postgres) pg_gid=$(id -g postgres)
as_postgres() { setpriv --reuid="$pg_uid" --regid="$pg_gid" --clear-groups "$@"; }
pg=$work/pg
mkdir -m 755 "$pg"
# The postgres account reads the libraries from here: the checkout may
# not be readable by it.
cp "$LIB" "$pg/libgoshm.so"
cp "$GO_LIB" "$pg/libgoshm-go.so"
chmod 755 "$pg"/*.so
declare -A pg_lib=([native]="" [c]="$pg/libgoshm.so" [go]="$pg/libgoshm-go.so")
as_postgres test -r "$pg/libgoshm.so" ||
	die "the postgres account cannot reach $pg: give TMPDIR a directory every user may enter"
mkdir -m 700 "$pg/data"
chown postgres: "$pg/data"
as_postgres "$PG_BIN/initdb" -D "$pg/data" -A trust -U postgres --no-sync --locale=C -E UTF8 >"$pg/initdb.log" 2>&1 ||
	die "initdb failed: $(tail -3 "$pg/initdb.log")"
cat >>"$pg/data/postgresql.conf" <<CONF
# goshm bench
listen_addresses = ''
shared_buffers = 128MB
shared_memory_type = sysv
dynamic_shared_memory_type = sysv
logging_collector = off
CONF
pg_start() { # pg_start MODE: a server of that mode, pid in servers[]
	local mode=$1 dir=$pg/$1
	mkdir -m 755 "$dir" "$dir/sock"
	cp -a "$pg/data" "$dir/data"
	echo "unix_socket_directories = '$dir/sock'" >>"$dir/data/postgresql.conf"
	mkdir -m 1777 "$dir/store"
	chown postgres: "$dir/sock"
	local pre=()
	[ "$mode" = native ] || pre=(env LD_PRELOAD="${pg_lib[$mode]}" GOSHM_DIR="$dir/store")
	unshare --ipc setpriv --reuid="$pg_uid" --regid="$pg_gid" --clear-groups \
		"${pre[@]}" "$PG_BIN/postgres" -D "$dir/data" >"$dir/server.log" 2>&1 &
	servers+=($!)
	for _ in $(seq 300); do
		"$PG_BIN/pg_isready" -q -h "$dir/sock" -U postgres && return 0
		sleep 0.1
	done
	die "the $mode server did not start: $(tail -3 "$dir/server.log")"
}
pgbench_tps() { # pgbench_tps MODE ARGS...: transactions per second
	local mode=$1
	shift
	"$PG_BIN/pgbench" -h "$pg/$mode/sock" -U postgres -n "$@" postgres |
		awk '/^tps = / { print $3; exit }'
}
for mode in "${modes[@]}"; do pg_start "$mode"; done
# The same data in each: pgbench's tables at scale 1, then a warm-up.
for mode in "${modes[@]}"; do
	"$PG_BIN/pgbench" -h "$pg/$mode/sock" -U postgres -i -q -s 1 postgres >"$pg/init-$mode.log" 2>&1 ||
		die "pgbench -i ($mode) failed: $(tail -3 "$pg/init-$mode.log")"
	pgbench_tps "$mode" -S -T 1 >/dev/null
done
# Where goshm actually serves PostgreSQL: its segments in the store.
for mode in c go; do
	ls "$pg/$mode/store/segments/" 2>/dev/null | grep -q '^seg-' ||
		die "the $mode server has no segment in its goshm store: not under goshm"
done
pg_clients=4 pg_threads=2
echo "PostgreSQL $("$PG_BIN/postgres" --version | awk '{ print $3 }') pgbench -S (select only), $pg_clients clients," \
	"$PG_SECONDS s per run, median of $PG_ROUNDS runs (the servers take turns)"
echo "  (shared_memory_type=sysv, dynamic_shared_memory_type=sysv; transactions per second)"
row5_head "" "native"
for kind in connect persistent; do
	args=(-S -T "$PG_SECONDS" -c "$pg_clients" -j "$pg_threads")
	[ "$kind" = connect ] && args+=(-C)
	take_turns "$PG_ROUNDS" pgbench_tps "${args[@]}"
	n=${MEDIAN[native]} c=${MEDIAN[c]} g=${MEDIAN[go]}
	label="a new connection per transaction (-C)"
	[ "$kind" = persistent ] && label="persistent connections"
	row5 "$label" "$(printf %.0f "$n")" "$(printf %.0f "$c")" "$(printf %.0f "$g")" \
		"$(ratio "$c" "$n")" "$(ratio "$g" "$n")"
done
for pid in "${servers[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
for pid in "${servers[@]}"; do wait "$pid" 2>/dev/null || true; done
servers=()
echo

# ---- 5. Disk traffic of a hot counter. ----
# Each run gets its own small ext4 file system on a loop device, so the
# device's "sectors written" (/sys/block/loopN/stat, field 7) counts that
# run's writes and nobody else's; writeback is the kernel's, which
# /proc/PID/io would not attribute to the process.  The native run has the
# same kind of file system as its working directory: the control.

# disk_run NAME [init]: both modes at once, each on its own device, so the
# section takes DISK_SECONDS per variant.  Sets NATIVE_BYTES and GOSHM_BYTES.
disk_run() {
	local name=$1 nmnt ndev gmnt gdev n0 g0 n1 g1 npid gpid
	shift
	new_fs "native-$name"
	nmnt=$FS_MNT ndev=$FS_DEV
	new_fs "goshm-$name"
	gmnt=$FS_MNT gdev=$FS_DEV
	n0=$(sectors "$ndev") g0=$(sectors "$gdev")
	(cd "$nmnt" && TMPDIR=$nmnt native "$BIN/hotcounter" "$DISK_SECONDS" "$DISK_MIB" "$@" >"$work/hc.native") &
	npid=$!
	(cd "$gmnt" && TMPDIR=$gmnt goshm_in "$gmnt/store" "$BIN/hotcounter" "$DISK_SECONDS" "$DISK_MIB" "$@" >"$work/hc.goshm") &
	gpid=$!
	wait "$npid" || die "native hotcounter failed"
	wait "$gpid" || die "goshm hotcounter failed"
	# Commit what the runs left in the journals; data of the removed
	# segment file is dropped by the kernel, it never reaches the disk.
	sync -f "$nmnt"
	sync -f "$gmnt"
	n1=$(sectors "$ndev") g1=$(sectors "$gdev")
	NATIVE_BYTES=$(((n1 - n0) * 512)) GOSHM_BYTES=$(((g1 - g0) * 512))
}
echo "Disk traffic: a counter rewritten in a loop, ${DISK_MIB} MiB segment, ${DISK_SECONDS} s per run"
echo "  (bytes written to the store's own block device; the kernel writes dirty pages back after ${expire_s} s)"
row2 "" "native" "goshm"
disk_run counter
row2 "counter only" "$(fmt_bytes "$NATIVE_BYTES")" "$(fmt_bytes "$GOSHM_BYTES")"
disk_run init init
row2 "segment initialised (memset), then counter" "$(fmt_bytes "$NATIVE_BYTES")" "$(fmt_bytes "$GOSHM_BYTES")"
echo "  counter increments per second: native $(awk -v s="$DISK_SECONDS" '{ printf "%.2g", $2 / s }' "$work/hc.native"), goshm $(awk -v s="$DISK_SECONDS" '{ printf "%.2g", $2 / s }' "$work/hc.goshm")"
