#!/bin/sh
# Build the warm-launch shim (native/launcher.c) into native/build/qemu-system-aarch64.
# Never fails an install: without a C compiler the cold path (node) simply stays in use.
here=$(cd "$(dirname "$0")" && pwd) || exit 0
cc=${CC:-cc}
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "qtestd: no C compiler ($cc) - warm launch shim not built; the cold launcher stays in use"
  exit 0
fi
mkdir -p "$here/build" || exit 0
# Build next to the target and rename, so a running test never execs a half-written file.
if $cc -O2 -Wall -Wextra -o "$here/build/.qemu-system-aarch64.$$" "$here/launcher.c"; then
  mv -f "$here/build/.qemu-system-aarch64.$$" "$here/build/qemu-system-aarch64"
else
  rm -f "$here/build/.qemu-system-aarch64.$$"
  echo "qtestd: building native/launcher.c failed - the cold launcher stays in use"
fi
exit 0
