#!/usr/bin/env bash
# test-deps: install what `make test` needs on Debian 12 that is missing,
# and nothing else.  `make test` runs it before the tests, so that a fresh
# machine with Go and a C compiler needs no other step.
#
# It installs (non-interactively, as root, with apt-get) only the packages
# that dpkg-query says are not installed, names them first, and runs
# apt-get update only when there is something to install.  When it cannot
# (not root, no apt-get, apt-get failing) it fails with one line saying
# why.  Then it downloads the Go modules the tests import.
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
	echo "test-deps: $*" >&2
	exit 1
}

# What the tests and scripts run, by package.
packages=(
	build-essential      # gcc, make, libc6-dev (the CLI tests link a static program)
	ca-certificates      # go mod download over HTTPS
	util-linux           # unshare, setpriv, nsenter, ipcs, ipcmk, ipcrm, findmnt
	mount                # mount, umount, losetup (store errors, bench's disk section)
	e2fsprogs            # mkfs.ext4, e2fsck (bench, tests/crash)
	xfsprogs             # mkfs.xfs: tests/crash copies an ext4 image with a reflink on XFS
	strace               # tests/conformance kills a call at a chosen system call
	gdb                  # tests/realprog stops a call at a chosen function
	procps psmisc        # ps, sysctl, kill (scripts, PostgreSQL's pg_ctl)
	cmake pkg-config     # tests/cmake: the CMake and pkg-config consumers
	stress-ng            # tests/realprog
	python3 python3-sysv-ipc perl # tests/realprog: sysv_ipc, IPC::SharedMem
	postgresql-15 postgresql-client-15 # tests/realprog, make bench (pgbench)
	valgrind             # the benchmark's smoke test counts instructions
	xvfb x11-apps        # tests/realprog: an X server and x11perf for MIT-SHM
	libx11-dev libxext-dev # tests/cprogs/x11_shm, an MIT-SHM client
	dpkg-dev lintian     # make deb (dpkg-shlibdeps, dpkg-architecture); tests/install lints it
	mandoc man-db        # tests/install: mandoc -T lint and man --warnings on the man pages
	debootstrap          # tests/install, tests/container: a clean Debian 12 image
	git                  # make deb (the changelog's date), tests/install (go install's module)
	php8.2-cli php8.2-opcache # tests/realprog: sysvshm, shmop (php8.2-common), opcache
	musl-tools           # make: build/musl/libgoshm.so and musl-linked programs
	apache2 apache2-utils # tests/realprog: httpd with Mutex sysvsem, and ab
)

installed() {
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

command -v dpkg-query >/dev/null || die "no dpkg-query: not a Debian system; install by hand: ${packages[*]}, docker"
missing=()
for p in "${packages[@]}"; do
	installed "$p" || missing+=("$p")
done
# tests/container needs a Docker engine; one installed some other way
# (Docker's own packages, a static binary) will do.
command -v docker >/dev/null || missing+=(docker.io)

log=${TMPDIR:-/tmp}/goshm-test-deps.log
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || die "not root: cannot install ${missing[*]} (run make test as root)"
	command -v apt-get >/dev/null || die "no apt-get: install ${missing[*]} by hand"
	echo "test-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >"$log" 2>&1 || die "apt-get update failed (output in $log)"
	apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$log" 2>&1 ||
		die "apt-get install ${missing[*]} failed (output in $log)"
fi

# A Docker engine installed just now is started by systemd.  Where there
# is no systemd (a chroot, a container) nothing here starts one: a daemon
# started there would share, and fight over, the host's network.
docker info >/dev/null 2>&1 ||
	echo "test-deps: no Docker engine answers (docker info): tests/container will fail; start it," \
		"or set GOSHM_TEST_NO_DOCKER=1 to skip those tests on a machine that cannot run one"

${GO:-go} mod download || die "go mod download failed"

# The tests run programs from build/ as an ordinary user (uid 1000), so
# every user must be able to reach the checkout: not so under /root.
if [ "$(id -u)" = 0 ] && ! setpriv --reuid=1000 --regid=1000 --clear-groups test -x "$PWD"; then
	die "uid 1000 cannot enter $PWD, and the tests run programs from it as that user:" \
		"put the checkout where every user may enter (not under /root), or chmod o+x its parents"
fi
