#!/usr/bin/env bash
# Installs the Debian packages the nested test needs, if any is missing:
# QEMU (TCG), a Debian kernel with its kvm modules, a static busybox, cpio.
# --no-install-recommends keeps it small; linux-image-amd64 still pulls
# initramfs-tools, whose generated /boot/initrd.img we never use.
set -u
PKGS="qemu-system-x86 linux-image-amd64 busybox-static cpio gzip"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
	echo "nested test needs Debian packages:$missing (install them as root)" >&2
	exit 1
fi
echo "installing:$missing" >&2
log=$(mktemp)
# Update the lists only when the first try fails (they may be stale or absent).
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >"$log" 2>&1; then
	apt-get update -qq >>"$log" 2>&1
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >>"$log" 2>&1; then
		tail -n 20 "$log" >&2
		rm -f "$log"
		exit 1
	fi
fi
rm -f "$log"
