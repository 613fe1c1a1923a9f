#!/usr/bin/env bash
# make demo: the write-up's experiment, natively and under goshm.
#
# A "restart" is what a container restart does to System V shared memory:
# the IPC namespace dies with the processes.  Each step below runs in its
# own fresh IPC namespace (unshare --ipc), so the writer's namespace is
# gone when the reader starts.  Needs root for unshare.
set -euo pipefail
cd "$(dirname "$0")/.."
B=build
if [ "$(id -u)" != 0 ]; then
	echo "demo: needs root (it creates IPC namespaces with unshare)" >&2
	exit 1
fi
store=$(mktemp -d /tmp/goshm-demo.XXXXXX)
trap 'rm -rf "$store"' EXIT

run() { # run LABEL CMD...: in a fresh IPC namespace, output indented
	local out
	out=$("${@:2}" 2>&1) || true
	printf '%s\n' "$out" | sed "s/^/    /"
}

native() { unshare --ipc "$@"; }
goshm() { unshare --ipc env LD_PRELOAD="$PWD/$B/libgoshm.so" GOSHM_DIR="$store/store" "$@"; }

echo "== 1. write key 5678 ('a'..'z'), then the IPC namespace dies (restart)"
echo "  kernel System V:"
run w native "$B/legacy/systemv_shm_wr"
echo "  goshm (LD_PRELOAD=$B/libgoshm.so, GOSHM_DIR=$store/store):"
run w goshm "$B/legacy/systemv_shm_wr"
echo
echo "== 2. after the restart, a new IPC namespace reads key 5678"
native_out=$(native "$B/legacy/systemv_shm_rd" 2>&1 || true)
goshm_out=$(goshm "$B/legacy/systemv_shm_rd" 2>&1 || true)
printf '  %-56s | %s\n' "kernel System V" "goshm"
printf '  %-56s | %s\n' "--------------------------------------------------------" "--------------------------------------------------------"
paste -d'|' <(printf '%s\n' "$native_out") <(printf '%s\n' "$goshm_out") |
	awk -F'|' '{ printf "  %-56s | %s\n", $1, $2 }'
echo
echo "== 3. the mmap-a-regular-file variant of the write-up (natively)"
dir=$(mktemp -d)
(cd "$dir" && native "$OLDPWD/$B/legacy/mmap_shm_wr" >/dev/null && native "$OLDPWD/$B/legacy/mmap_shm_rd" | sed 's/^/    /')
rm -rf "$dir"
echo
if grep -q "Read Ok" <<<"$goshm_out" && ! grep -q "Read Ok" <<<"$native_out"; then
	echo "RESULT: the kernel lost the segment at the restart; goshm kept it."
else
	echo "RESULT: unexpected outcome (see above)"
	exit 1
fi
