#!/usr/bin/env bash
# Build the QEMU 10.2.2 oracle qtestd is tested against (`npm run oracle`).
#
#   bash scripts/oracle/build.sh [PREFIX]        PREFIX defaults to /var/tmp/qemu-oracle
#
# From Debian's `qemu` source package (sid, 1:10.2.2+ds-1: QEMU 10.2.2 with Debian's patches):
#   PREFIX/bin/qemu-system-aarch64  aarch64-softmmu, TCG + the qtest accelerator, fdt
#   PREFIX/bin/qtest-cc             compile + link a C qtest against libqtest/libqos (QEMU's own flags)
#   PREFIX/lib/*.a                  libqos (with libqtest, libqmp), libqom, libqemuutil, libevent-loop-base
#   PREFIX/include/{src,build}/     the source tree's and the build tree's headers
#   PREFIX/share/qemu/              option ROMs from Debian's ipxe-qemu (a default NIC needs one)
#   PREFIX/share/qemu-oracle/build-info.txt, PREFIX/.complete
# and keeps the unpacked source (with its build tree) in WORK/qemu-src: QEMU's own qtests run from
# there (QTEST_ORACLE_SRC). Then: export QTEST_ORACLE_PREFIX=PREFIX QTEST_ORACLE_SRC=WORK/qemu-src.
#
# Re-runs are cheap. What a prefix holds is identified by its recipe: the Debian source version,
# the configure line and the install layout (PREFIX/.complete + build-info.txt). A prefix whose
# recipe matches is kept as it is, whoever built it; so is a source tree whose debian/changelog
# names the pinned version and a build tree configured with the same line (ninja then only
# checks). Anything else is rebuilt. Cold: ~8 min on 2 idle cores, 20+ on busy ones.
#
# Environment: JOBS (default nproc), QEMU_ORACLE_WORK (default /var/tmp/qemu-oracle-work),
# QEMU_ORACLE_DEBIAN_MIRROR (default: the host's first Debian mirror), QEMU_ORACLE_FORCE=1 (ignore
# an up-to-date prefix). Needs Debian 12+; root only to apt-get install missing build packages.
# Only Debian's mirror is contacted, with a private apt state under WORK/apt (the host's apt
# configuration and lists are not touched).
set -euo pipefail
{ # one block: bash parses the whole file before running any of it

DEB_VERSION=1:10.2.2+ds-1
QEMU_VERSION=10.2.2
LAYOUT=1 # bump when the install layout below changes
TARGET=aarch64-softmmu
PROBE=tests/qtest/arm-cpu-features # a small aarch64 qtest: building it builds every object qtests link
CONFIGURE=(--python=/usr/bin/python3 --target-list=$TARGET --without-default-features --enable-tcg
           --enable-fdt=system --disable-docs --disable-werror --disable-install-blobs
           --disable-download --disable-debug-info)
# /usr/bin/python3: a python3 earlier in PATH (pyenv) may not see Debian's modules.
# --disable-install-blobs: the +ds tarball carries no firmware.
MESON_MIN=1.5 # QEMU 10.2 needs it; bookworm has 1.0.1, so trixie's meson is unpacked privately
PACKAGES=(build-essential dpkg-dev xz-utils ninja-build pkg-config python3 python3-venv
          libglib2.0-dev zlib1g-dev libfdt-dev ipxe-qemu)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PREFIX=$(realpath -m "${1:-/var/tmp/qemu-oracle}")
WORK=$(realpath -m "${QEMU_ORACLE_WORK:-/var/tmp/qemu-oracle-work}")
SRC=$WORK/qemu-src
B=$SRC/build
JOBS=${JOBS:-$(nproc)}
T0=$(date +%s)
STEP=setup
say() { printf '[oracle +%ss] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }
fail() { say "ERROR ($STEP): $*"; exit 1; }
step() { STEP=$1; say "== $1"; }
trap 'say "FAILED in step \"$STEP\" (line $LINENO)"' ERR
[ "$PREFIX" != / ] || fail "PREFIX must not be /"

RECIPE="qemu-deb-version=$DEB_VERSION
configure=${CONFIGURE[*]}
layout=$LAYOUT"

# The recipe of an existing prefix: from .complete, with the configure line from build-info.txt.
prefix_recipe() {
    local c=$1/.complete i=$1/share/qemu-oracle/build-info.txt
    [ -f "$c" ] && [ -f "$i" ] || return 0
    printf 'qemu-deb-version=%s\nconfigure=%s\nlayout=%s\n' \
        "$(sed -n 's/^qemu-deb-version=//p' "$c")" "$(sed -n 's/^configure=//p' "$i")" \
        "$(sed -n 's/^layout=//p' "$c" | grep . || echo 1)" # prefixes without the key have layout 1
}
prefix_usable() {
    [ "$(prefix_recipe "$1")" = "$RECIPE" ] || return 1
    local f
    for f in bin/qemu-system-aarch64 bin/qtest-cc; do [ -x "$1/$f" ] || return 1; done
    for f in lib/libqos.a lib/libqemuutil.a include/src/tests/qtest/libqtest.h include/build/config-host.h; do
        [ -f "$1/$f" ] || return 1
    done
}

if [ "${QEMU_ORACLE_FORCE:-0}" != 1 ] && prefix_usable "$PREFIX"; then
    say "up to date: $PREFIX (qemu $DEB_VERSION, layout $LAYOUT)"
    [ -f "$SRC/VERSION" ] && say "source tree: $SRC" || say "note: no source tree in $SRC (QEMU's own qtests need it)"
    exit 0
fi
say "building into $PREFIX (work: $WORK, $JOBS jobs)"
if [ -d "$PREFIX" ] && [ -n "$(ls -A "$PREFIX")" ] && [ ! -f "$PREFIX/.complete" ] && [ ! -f "$PREFIX/.qemu-oracle-prefix" ]; then
    fail "$PREFIX is not empty and holds no oracle: refusing to overwrite it"
fi
mkdir -p "$WORK" "$PREFIX"
touch "$PREFIX/.qemu-oracle-prefix"
exec 8>"$WORK/.lock"
flock -n 8 || { say "another build holds $WORK/.lock: waiting"; flock 8; }
export LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive
unset CC CFLAGS CPPFLAGS LDFLAGS # Debian's default cc, whose flags qtest-cc then records

# ------------------------------------------------------------------ packages
step "build packages"
missing=()
for p in "${PACKAGES[@]}"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = 'install ok installed' ] || missing+=("$p")
done
/usr/bin/python3 -c 'import tomllib' 2>/dev/null || /usr/bin/python3 -c 'import tomli' 2>/dev/null || missing+=(python3-tomli)
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || fail "missing packages: ${missing[*]} (install them, or run as root)"
    say "apt-get install ${missing[*]}"
    apt-get install -y --no-install-recommends "${missing[@]}" || { apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"; }
fi

# ------------------------------------------------------------------ private apt (only if something must be fetched)
APT=(-o "Dir::Etc::SourceList=$WORK/apt/sources.list" -o "Dir::Etc::SourceParts=$WORK/apt/sources.list.d"
     -o "Dir::State::Lists=$WORK/apt/lists" -o "Dir::Cache=$WORK/apt/cache" -o "Acquire::Languages=none"
     -o "APT::Sandbox::User=root")
MESON_DIR=$WORK/tools/meson
meson_version() { # the meson /usr/bin/python3 sees (with DIR: the one unpacked in DIR)
    local pp=${PYTHONPATH:-}
    [ -z "${1:-}" ] || pp=$1/usr/lib/python3/dist-packages
    PYTHONPATH=$pp /usr/bin/python3 -c 'import mesonbuild.coredata as c; print(c.version)' 2>/dev/null || true
}
version_ge() { [ -n "$1" ] && dpkg --compare-versions "$1" ge "$2"; }
source_ok() { [ -f "$SRC/VERSION" ] && [ "$(cat "$SRC/VERSION")" = "$QEMU_VERSION" ] && head -n1 "$SRC/debian/changelog" 2>/dev/null | grep -F "($DEB_VERSION)" >/dev/null; }

need_meson=0; need_source=0
if ! version_ge "$(meson_version)" $MESON_MIN && ! version_ge "$(meson_version "$MESON_DIR")" $MESON_MIN; then need_meson=1; fi
source_ok || need_source=1
if [ $need_meson = 1 ] || [ $need_source = 1 ]; then
    step "apt sources (private state in $WORK/apt)"
    mirror=${QEMU_ORACLE_DEBIAN_MIRROR:-$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | grep -v security | head -n1)}
    [ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; exit } }' /etc/apt/sources.list 2>/dev/null)
    [ -n "$mirror" ] || fail "no Debian mirror found in /etc/apt; set QEMU_ORACLE_DEBIAN_MIRROR"
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    rm -rf "$WORK/apt/sources.list.d"
    mkdir -p "$WORK/apt/sources.list.d" "$WORK/apt/lists/partial" "$WORK/apt/cache/archives/partial"
    : >"$WORK/apt/sources.list"
    printf 'Types: deb-src\nURIs: %s\nSuites: sid\nComponents: main\nSigned-By: %s\n' "$mirror" "$keyring" >"$WORK/apt/sources.list.d/oracle.sources"
    [ $need_meson = 0 ] || printf '\nTypes: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: %s\n' "$mirror" "$keyring" >>"$WORK/apt/sources.list.d/oracle.sources"
    apt-get "${APT[@]}" update
fi

# ------------------------------------------------------------------ meson
step "meson >= $MESON_MIN"
if ! version_ge "$(meson_version)" $MESON_MIN; then
    if ! version_ge "$(meson_version "$MESON_DIR")" $MESON_MIN; then
        say "unpacking trixie's meson into $MESON_DIR (not installed system-wide)"
        rm -rf "$MESON_DIR" "$WORK/tools/debs" && mkdir -p "$MESON_DIR" "$WORK/tools/debs"
        (cd "$WORK/tools/debs" && apt-get "${APT[@]}" download meson/trixie)
        dpkg-deb -x "$WORK"/tools/debs/meson_*_all.deb "$MESON_DIR"
    fi
    export PYTHONPATH=$MESON_DIR/usr/lib/python3/dist-packages${PYTHONPATH:+:$PYTHONPATH}
fi
MESON=$(meson_version)
version_ge "$MESON" $MESON_MIN || fail "no usable meson >= $MESON_MIN"
say "meson $MESON"

# ------------------------------------------------------------------ source
step "qemu $DEB_VERSION source"
if [ $need_source = 1 ]; then
    apt-cache "${APT[@]}" showsrc qemu | grep -x "Version: $DEB_VERSION" >/dev/null \
        || fail "the mirror's sid no longer offers qemu $DEB_VERSION; the oracle must be exactly QEMU $QEMU_VERSION"
    rm -rf "$WORK/dl" "$SRC" && mkdir -p "$WORK/dl"
    (cd "$WORK/dl" && apt-get "${APT[@]}" source --download-only "qemu=$DEB_VERSION")
    dpkg-source -x "$WORK/dl/qemu_${DEB_VERSION#*:}.dsc" "$SRC" # applies debian/patches
    rm -rf "$WORK/dl"
    source_ok || fail "$SRC does not hold QEMU $QEMU_VERSION after unpacking"
fi
echo "$DEB_VERSION" >"$WORK/source.version"
say "source: $SRC"

# ------------------------------------------------------------------ configure + build
step "configure + build ($TARGET, -j$JOBS)"
configured_with() { sed -n "s/^exec '..\/configure' //p" "$B/config.status" 2>/dev/null | sed "s/ \"\$@\"\$//; s/'//g"; }
if [ ! -f "$B/build.ninja" ] || [ "$(configured_with)" != "${CONFIGURE[*]}" ]; then
    rm -rf "$B" && mkdir -p "$B"
    (cd "$B" && ../configure "${CONFIGURE[@]}")
else
    say "build tree already configured with the same line: incremental"
fi
grep -q '^#define CONFIG_TCG' "$B/$TARGET-config-target.h" || fail "TCG is not enabled"
ninja -C "$B" -j"$JOBS" qemu-system-aarch64 "$PROBE"
META=$WORK/qtest-cc.json
mapfile -t ARCHIVES < <(node "$HERE/qtest-flags.mjs" extract "$B" "$SRC" "$PROBE" "$META")
say "archives qtests link: ${ARCHIVES[*]}"
ninja -C "$B" -j"$JOBS" "${ARCHIVES[@]}"

# ------------------------------------------------------------------ install
step "install into $PREFIX"
rm -f "$PREFIX/.complete"
rm -rf "$PREFIX/bin" "$PREFIX/lib" "$PREFIX/include" "$PREFIX/share"
mkdir -p "$PREFIX/bin" "$PREFIX/lib" "$PREFIX/include/src" "$PREFIX/include/build" "$PREFIX/share/qemu" "$PREFIX/share/qemu-oracle"
install -m 0755 "$B/qemu-system-aarch64" "$PREFIX/bin/"
for a in "${ARCHIVES[@]}"; do
    out=$PREFIX/lib/$(basename "$a")
    if [ "$(head -c 7 "$B/$a")" = '!<thin>' ]; then # meson's thin archives only point into the build tree
        mapfile -t objs < <(ar t "$B/$a")
        (cd "$B" && ar qcD "$out" "${objs[@]}") && ranlib -D "$out"
    else
        install -m 0644 "$B/$a" "$out"
    fi
done
# Headers: every *.h of the source tree except what no qtest includes (other targets, docs,
# firmware, user-mode emulation), then the generated ones of the build tree.
(cd "$SRC" && find . \( -path ./build -o -path ./.pc -o -path ./debian -o -path ./roms -o -path ./pc-bios \
        -o -path ./docs -o -path ./python -o -path ./rust -o -path ./subprojects -o -path ./tests/tcg \
        -o -path ./linux-user -o -path ./bsd-user \) -prune \
        -o -path './target/*' ! -path './target/arm' ! -path './target/arm/*' -prune \
        -o -type f \( -name '*.h' -o -name '*.h.inc' \) -print0 | xargs -0 -r cp --parents -t "$PREFIX/include/src")
(cd "$B" && find . \( -name '*.p' -o -name 'meson-*' -o -name pyvenv -o -name subprojects -o -type l \) -prune \
        -o -type f \( -name '*.h' -o -name '*.h.inc' -o -name '*.def' \) -print0 | xargs -0 -r cp --parents -t "$PREFIX/include/build")
cp -rL "$B/linux-headers" "$PREFIX/include/build/" # its asm link points into the source tree
INFO="qemu $QEMU_VERSION, Debian $DEB_VERSION, built by qtestd scripts/oracle/build.sh"
node "$HERE/qtest-flags.mjs" write-cc "$META" "$PREFIX" "$INFO" >"$PREFIX/bin/qtest-cc"
chmod 0755 "$PREFIX/bin/qtest-cc"
cp /usr/lib/ipxe/qemu/efi-*.rom "$PREFIX/share/qemu/" 2>/dev/null || say "note: no ipxe ROMs; guests need -net none"
install -m 0644 "$HERE/smoke.c" "$PREFIX/share/qemu-oracle/smoke.c"
{
    echo "qemu-deb-version=$DEB_VERSION"
    echo "qemu-version=$QEMU_VERSION"
    echo "configure=${CONFIGURE[*]}"
    echo "meson=$MESON"
    echo "archives=${ARCHIVES[*]}"
    echo "source=$SRC"
    echo "qemu-sha256=$(sha256sum "$PREFIX/bin/qemu-system-aarch64" | cut -d' ' -f1)"
} >"$PREFIX/share/qemu-oracle/build-info.txt"

# ------------------------------------------------------------------ self-test
step "self-test"
Q=$PREFIX/bin/qemu-system-aarch64
"$Q" --version | grep -F "version $QEMU_VERSION" >/dev/null || fail "$Q is not QEMU $QEMU_VERSION"
printf '{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n' \
    | timeout 120 "$Q" -machine virt -accel qtest -display none -qmp stdio >/dev/null || fail "virt does not start under -accel qtest"
T=$WORK/self-test && rm -rf "$T" && mkdir -p "$T"
"$PREFIX/bin/qtest-cc" -o "$T/smoke" "$HERE/smoke.c"
(cd "$T" && QTEST_QEMU_BINARY="$Q" timeout 300 ./smoke --tap >&2) || fail "smoke.c failed against $Q"

printf '%s\nqemu-version=%s\ncompleted=%s\n' "$RECIPE" "$QEMU_VERSION" "$(date -u +%FT%TZ)" >"$PREFIX/.complete"
prefix_usable "$PREFIX" || fail "the installed prefix does not pass its own check"
say "done in $(( $(date +%s) - T0 ))s: export QTEST_ORACLE_PREFIX=$PREFIX QTEST_ORACLE_SRC=$SRC"
exit 0
}
