#!/usr/bin/env bash
# make bench: goshm against the kernel's System V shared memory, the same
# loops in the same run.  Speed is reported here, never asserted by tests.
#
# Every benchmark program (bench/*.c) runs twice: natively in a fresh IPC
# namespace, and with LD_PRELOAD=libgoshm.so and a private store (also in a
# fresh IPC namespace, where goshm keeps its presence attaches).  The two
# modes alternate operation by operation, so that the machine's background
# load falls on both.  docs/BENCHMARKS.md explains how to read the output.
#
# Needs root (unshare --ipc; the disk section mounts loop devices).
#
# Settings, from the environment:
#   GOSHM_BENCH_ROUNDS=5        rounds per System V operation; the median is shown
#   GOSHM_BENCH_ITERS=N         iterations per round (default: calibrated to ~0.1 s)
#   GOSHM_BENCH_STARTS=300      runs of /bin/true for the startup time
#   GOSHM_BENCH_DISK_SECONDS=S  length of each hot-counter run (default: the kernel's
#                               dirty_expire_centisecs + 10 s, so that writeback happens)
#   GOSHM_BENCH_CALLGRIND=1     also count user-space instructions per call (valgrind)
#   GOSHM_BENCH_QUICK=1         one iteration of everything: checks that the benchmark
#                               works, its numbers mean nothing (the smoke test uses it)
#   GOSHM_BENCH_LIB             the library to preload (default build/libgoshm.so)
#   GOSHM_BENCH_BIN             where the programs are built (default build/bench)
#   TMPDIR                      where the store of the System V section lives
set -euo pipefail
cd "$(dirname "$0")/.."

LIB=$(realpath "${GOSHM_BENCH_LIB:-build/libgoshm.so}")
BIN=${GOSHM_BENCH_BIN:-build/bench}
ROUNDS=${GOSHM_BENCH_ROUNDS:-5}
ITERS=${GOSHM_BENCH_ITERS:-}
STARTS=${GOSHM_BENCH_STARTS:-300}
expire_s=$(($(cat /proc/sys/vm/dirty_expire_centisecs) / 100))
DISK_SECONDS=${GOSHM_BENCH_DISK_SECONDS:-$((expire_s + 10))}
DISK_MIB=64
CG_LO=10 CG_HI=110 # iterations of the two callgrind runs
if [ "${GOSHM_BENCH_QUICK:-}" = 1 ]; then
	ROUNDS=1 ITERS=1 STARTS=3 DISK_SECONDS=1 CG_LO=1 CG_HI=2
fi

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (unshare --ipc, losetup, mount)"
[ -f "$LIB" ] || die "$LIB is missing: run make"
for tool in unshare losetup mkfs.ext4 mount gcc; do
	command -v "$tool" >/dev/null || die "needs $tool (util-linux, e2fsprogs, gcc)"
done

# ---- Build the programs. ----
mkdir -p "$BIN"
BIN=$(realpath "$BIN")
for src in bench/*.c; do
	${CC:-gcc} -O2 -g -Wall -Wextra -Werror -o "$BIN/$(basename "$src" .c)" "$src"
done

# ---- Scratch space, cleaned up whatever happens. ----
work=$(mktemp -d "${TMPDIR:-/tmp}/goshm-bench.XXXXXX")
chmod 755 "$work"
mounts=() loops=()
cleanup() {
	for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
	for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

native() { unshare --ipc env -u LD_PRELOAD "$@"; }
goshm_in() { # goshm_in STORE CMD...
	local store=$1
	shift
	unshare --ipc env LD_PRELOAD="$LIB" GOSHM_DIR="$store" "$@"
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

# ---- Header: what this run is. ----
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
os=$(. /etc/os-release && echo "$PRETTY_NAME")
store_fs=$(findmnt -no FSTYPE,SOURCE -T "$work" | awk '{ print $1 " on " $2 }')
echo "goshm benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "  machine: $cpu, $(nproc) CPUs, $mem RAM; $os; Linux $(uname -r) $(uname -m)"
echo "  library: $LIB ($(stat -c %s "$LIB") bytes)"
echo "  store:   $work/store ($store_fs)"
[ "${GOSHM_BENCH_QUICK:-}" = 1 ] && echo "  QUICK MODE: one iteration of everything, the numbers mean nothing"
echo

# ---- 1. The System V calls. ----
ops=(shmget_existing create_destroy attach_detach_4k attach_detach_64m ipc_stat
	write_64m create_touch_destroy_64m fork_0 fork_4)
declare -A label=(
	[shmget_existing]="shmget of an existing key"
	[create_destroy]="shmget(IPC_PRIVATE, 4 KiB) + IPC_RMID"
	[attach_detach_4k]="shmat + shmdt, 4 KiB segment"
	[attach_detach_64m]="shmat + shmdt, 64 MiB segment"
	[ipc_stat]="shmctl(IPC_STAT), attached once"
	[write_64m]="memset of 64 MiB through an attach"
	[create_touch_destroy_64m]="create, attach, fault in 64 MiB, destroy"
	[fork_0]="fork + _exit + wait, no attach"
	[fork_4]="fork + _exit + wait, 4 attaches of 1 MiB"
)
shmops_args=(-r "$ROUNDS")
[ -n "$ITERS" ] && shmops_args+=(-i "$ITERS")
echo "System V calls: time per operation, median of $ROUNDS rounds"
row "operation" "native" "goshm" "goshm/native"
for op in "${ops[@]}"; do
	n=$(native "$BIN/shmops" "${shmops_args[@]}" "$op" | awk '{ print $3 }')
	g=$(goshm_in "$work/store" "$BIN/shmops" "${shmops_args[@]}" "$op" | awk '{ print $3 }')
	[ -n "$n" ] && [ -n "$g" ] || die "shmops $op printed nothing"
	row "${label[$op]}" "$(fmt_ns "$n")" "$(fmt_ns "$g")" "$(ratio "$g" "$n")"
done
echo

# ---- 2. User-space instructions per call (optional, repeatable). ----
if [ "${GOSHM_BENCH_CALLGRIND:-}" = 1 ]; then
	command -v valgrind >/dev/null || die "GOSHM_BENCH_CALLGRIND=1 needs valgrind"
	# Instructions executed inside the timed loops (shmops' op_* functions
	# and what they call, on the main thread: the Go runtime's idle threads
	# are not counted), in a run of CG_HI iterations minus one of CG_LO,
	# per iteration.  Each run gets a fresh store.  Kernel work is not
	# counted.  Go's asynchronous preemption signals trip an assertion in
	# callgrind 3.19; goshm runs no Go code, so turning them off changes
	# nothing else.
	instr() { # instr MODE OP ITERS
		local out=$work/cg.$1.$2.$3
		local cg=(valgrind --tool=callgrind "--toggle-collect=op_*" --callgrind-out-file="$out"
			"$BIN/shmops" -r 1 -i "$3" "$2")
		if [ "$1" = native ]; then
			native "${cg[@]}" >/dev/null 2>&1
		else
			goshm_in "$out.store" env GODEBUG=asyncpreemptoff=1 "${cg[@]}" >/dev/null 2>&1
		fi
		awk '/^totals:/ { print $2 }' "$out"
	}
	echo "User-space instructions per call (callgrind; kernel work not counted)"
	row "operation" "native" "goshm" "goshm/native"
	for op in shmget_existing create_destroy attach_detach_4k ipc_stat; do
		n=$((($(instr native "$op" $CG_HI) - $(instr native "$op" $CG_LO)) / (CG_HI - CG_LO)))
		g=$((($(instr goshm "$op" $CG_HI) - $(instr goshm "$op" $CG_LO)) / (CG_HI - CG_LO)))
		row "${label[$op]}" "$n" "$g" "$(ratio "$g" "$n")"
	done
	echo
fi

# ---- 3. What the preloaded library costs every process. ----
# A process that never calls System V still loads the library and its
# dormant Go runtime: count its threads and memory, and its startup time.
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
pre=$(footprint env LD_PRELOAD="$LIB" GOSHM_DIR="$work/store")
field() { awk -v f="$2:" '$1 == f { print $2 }' <<<"$1"; }
echo "The library in a process that never calls it (sleep; /proc/PID/status, smaps_rollup)"
row "" "plain" "preloaded" "difference"
t0=$(field "$plain" Threads) t1=$(field "$pre" Threads)
row "threads" "$t0" "$t1" "+$((t1 - t0))"
for f in VmSize VmRSS RssAnon RssFile Pss Private_Dirty; do
	k0=$(field "$plain" "$f") k1=$(field "$pre" "$f")
	row "$f" "$(fmt_bytes $((k0 * 1024)))" "$(fmt_bytes $((k1 * 1024)))" "+$(fmt_bytes $(((k1 - k0) * 1024)))"
done
s0=$(GOSHM_DIR="$work/store" "$BIN/startup" "$STARTS" - /bin/true | awk '{ print $2 }')
s1=$(GOSHM_DIR="$work/store" "$BIN/startup" "$STARTS" "$LIB" /bin/true | awk '{ print $2 }')
row "/bin/true, fork to exit (median of $STARTS)" "$(fmt_ns "$s0")" "$(fmt_ns "$s1")" "$(ratio "$s1" "$s0")"
echo

# ---- 4. Disk traffic of a hot counter. ----
# Each run gets its own small ext4 file system on a loop device, so the
# device's "sectors written" (/sys/block/loopN/stat, field 7) counts that
# run's writes and nobody else's; writeback is the kernel's, which
# /proc/PID/io would not attribute to the process.  The native run has the
# same kind of file system as its working directory: the control.
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
