#!/usr/bin/env bash
# mkdeb: build goshm's Debian package, OUTDIR/goshm_VERSION_ARCH.deb, with
# dpkg-deb.  `make deb` runs it after building; it takes the files from
# `make install` (PREFIX=/usr, the library in the multiarch directory)
# and adds what Debian's policy asks of a binary package: stripped
# binaries, compressed man pages and changelog, the copyright file, the
# shlibs file for libgoshm.so.0, the ldconfig trigger, md5sums, and the
# C library version that dpkg-shlibdeps computes.
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

# Binaries stripped as dh_strip does; man pages compressed as dh_compress.
strip --remove-section=.comment --remove-section=.note --strip-unneeded \
	"$root$libdir/libgoshm.so.$version" "$root$libdir/libgoshm-go.so"
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

# Depends: the C library versions the binaries need.
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
 and libgoshm-go.so, the same engine built by Go), the goshm tool that
 runs programs under it and inspects stores, goshm.h with the pkg-config
 and CMake files, the man pages goshm(1) and libgoshm(7), and the docs.
CONTROL
# Programs link libgoshm.so.0; libgoshm-go.so is only ever preloaded.
echo "libgoshm $major goshm (>= $version)" >"$root/DEBIAN/shlibs"
echo "activate-noawait ldconfig" >"$root/DEBIAN/triggers"
(cd "$root" && find usr -type f -printf '%P\0' | sort -z |
	xargs -0 -I{} md5sum usr/{}) >"$root/DEBIAN/md5sums"
chmod 644 "$root"/DEBIAN/*

mkdir -p "$out"
deb=$out/goshm_${version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
