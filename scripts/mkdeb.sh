#!/usr/bin/env bash
# mkdeb: build goshm's Debian package, OUTDIR/goshm_VERSION_ARCH.deb, with
# dpkg-deb.  `make deb` runs it after building; it takes the files from
# `make install` (PREFIX=/usr, the library in the multiarch directory)
# and adds what Debian's policy asks of a binary package: stripped
# binaries, compressed man pages and changelog, the copyright file, the
# shlibs file for libgoshm.so.0, the ldconfig trigger, md5sums, the
# C library version that dpkg-shlibdeps computes, and the maintainer
# scripts that look after the default store, /var/lib/goshm (below).
#
# One package holds everything (library, development files, tool, man
# pages, docs): operators install one file into an image.  Its version is
# what `goshm version` prints.
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
	echo "mkdeb: $*" >&2
	exit 1
}

out=${1:-build}
goshm=${GOSHM:-build/goshm}
for tool in dpkg-deb dpkg-architecture dpkg-shlibdeps strip gzip; do
	command -v "$tool" >/dev/null || die "$tool is missing (Debian packages dpkg-dev, binutils, gzip)"
done

version=$("$goshm" version | awk 'NR == 1 { print $2 }')
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "$goshm version printed no version: $version"
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
major=${version%%.*}
libdir=/usr/lib/$multiarch

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"
${MAKE:-make} -s install DESTDIR="$root" PREFIX=/usr LIBDIR="$libdir" >/dev/null
# The musl build, for programs built against musl (goshm run picks it):
# make install leaves it out without musl-gcc, the package never does.
musl=$libdir/goshm/musl/libgoshm.so
[ -f "$root$musl" ] || die "$musl was not installed: make needs musl-gcc (Debian package musl-tools)"

# Binaries stripped as dh_strip does; man pages compressed as dh_compress.
strip --remove-section=.comment --remove-section=.note --strip-unneeded \
	"$root$libdir/libgoshm.so.$version" "$root$libdir/libgoshm-go.so" "$root$musl"
strip --remove-section=.comment --remove-section=.note "$root/usr/bin/goshm"
gzip -9n "$root"/usr/share/man/man*/*

doc=$root/usr/share/doc/goshm
install -d "$doc"
install -m 644 README.md docs/*.md "$doc"/
install -m 644 examples/docker/Dockerfile "$doc"/Dockerfile.example
install -m 644 examples/docker/Dockerfile.source "$doc"/Dockerfile.source.example
# The date of the commit being packaged, so that two builds of one commit
# are the same package.
when=$(git log -1 --format=%cD 2>/dev/null || date -R)
{
	echo "goshm ($version) unstable; urgency=medium"
	echo
	echo "  * goshm $version: persistent System V shared memory for containers."
	echo
	echo " -- goshm maintainers <goshm@users.noreply.github.com>  $when"
} | gzip -9n >"$doc/changelog.gz"
cat >"$doc/copyright" <<COPYRIGHT
goshm: persistent, file-backed System V shared memory
Source: https://github.com/goshm/goshm

Copyright: the goshm authors.  The license is the one stated in the
source repository; none was stated when this package was built.
COPYRIGHT
chmod 644 "$doc/changelog.gz" "$doc/copyright"

# lintian knows one libc, glibc's libc.so.6; the musl build is linked
# against musl's, libc.so, as it must be.
install -d "$root/usr/share/lintian/overrides"
cat >"$root/usr/share/lintian/overrides/goshm" <<OVERRIDES
# The musl build is linked against musl's C library (NEEDED libc.so),
# for programs built against musl; it is never loaded into a glibc one.
goshm: library-not-linked-against-libc [${musl#/}]
OVERRIDES
chmod 644 "$root/usr/share/lintian/overrides/goshm"

# Depends: the C library versions the binaries need.  Not the musl
# build's: it is loaded only into musl programs, which bring their musl.
mkdir -p "$work/src/debian"
printf 'Source: goshm\n\nPackage: goshm\nArchitecture: any\n' >"$work/src/debian/control"
depends=$(cd "$work/src" && dpkg-shlibdeps -O 2> >(grep -v "should already be installed" >&2) -l"$root$libdir" \
	"$root/usr/bin/goshm" "$root$libdir/libgoshm.so.$version" "$root$libdir/libgoshm-go.so" |
	sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || die "dpkg-shlibdeps found no dependencies"

install -d "$root/DEBIAN"
cat >"$root/DEBIAN/control" <<CONTROL
Package: goshm
Version: $version
Architecture: $arch
Maintainer: goshm maintainers <goshm@users.noreply.github.com>
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $depends
Section: libs
Priority: optional
Homepage: https://github.com/goshm/goshm
Description: persistent System V shared memory for legacy programs in containers
 goshm serves a program's shmget, shmat, shmdt and shmctl from files in a
 store directory (GOSHM_DIR, default /var/lib/goshm) instead of from the
 kernel, so that System V shared memory segments survive container
 restarts and recreation when the store is on a volume.  Return values,
 errno and struct shmid_ds are the kernel's.
 .
 This package holds the library (libgoshm.so, for LD_PRELOAD or -lgoshm,
 libgoshm-go.so, the same engine built by Go, and goshm/musl/libgoshm.so,
 built against musl for programs from Alpine images), the goshm tool that
 runs programs under it and inspects stores, goshm.h with the pkg-config
 and CMake files, the man pages goshm(1) and libgoshm(7), and the docs.
 It creates the default store, /var/lib/goshm, with mode 1777; removing
 or purging the package never deletes a store's segments.
CONTROL
# Programs link libgoshm.so.0; libgoshm-go.so is only ever preloaded.
echo "libgoshm $major goshm (>= $version)" >"$root/DEBIAN/shlibs"
echo "activate-noawait ldconfig" >"$root/DEBIAN/triggers"
(cd "$root" && find usr -type f -printf '%P\0' | sort -z |
	xargs -0 -I{} md5sum usr/{}) >"$root/DEBIAN/md5sums"
chmod 644 "$root"/DEBIAN/*

# The default store, /var/lib/goshm, is the data's, not the package's:
# it is not in the package's files, so dpkg never removes it (nor what is
# in it).  postinst makes it when it is missing, with the mode goshm
# itself would give it on first use (1777, like /dev/shm: any user's
# program creates its segments there, and the sticky bit keeps users off
# each other's files), and leaves an existing one (a volume, a directory
# the operator prepared) as it is.  postrm leaves it on remove; on purge
# it removes it only if it is empty -- a store that was ever used holds
# its registry, and segments are never deleted by the package.
cat >"$root/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
# goshm postinst: make the default store, /var/lib/goshm, if it is missing.
set -e
if [ "$1" = configure ] && [ ! -e /var/lib/goshm ] && [ ! -L /var/lib/goshm ]; then
	mkdir -m 1777 /var/lib/goshm
fi
POSTINST
cat >"$root/DEBIAN/postrm" <<'POSTRM'
#!/bin/sh
# goshm postrm: on purge, remove the default store, /var/lib/goshm, if it
# is empty; a store with anything in it (segments, the registry) is kept.
set -e
if [ "$1" = purge ] && [ -d /var/lib/goshm ] && [ ! -L /var/lib/goshm ]; then
	if ! rmdir /var/lib/goshm 2>/dev/null; then
		echo "goshm: kept /var/lib/goshm: it holds a store (or is a mount point);" \
			"delete it yourself once its segments are not needed" >&2
	fi
fi
POSTRM
chmod 755 "$root/DEBIAN/postinst" "$root/DEBIAN/postrm"

mkdir -p "$out"
deb=$out/goshm_${version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
