#!/usr/bin/env bash
# mkinitramfs.sh BEYOND TEST_GUESTS OUTDIR: builds OUTDIR/initramfs.cpio.gz for
# the nested test and links OUTDIR/vmlinuz to the kernel it belongs to.
# Everything comes from Debian packages: the kernel and kvm modules of
# linux-image-amd64, the static busybox, plus the static beyond binary, the
# test-only guest images (TEST_GUESTS/*.elf, to /guests) and the in-guest
# test scripts.
set -eu
beyond=$1 guests=$2 out=$3
here=$(cd "$(dirname "$0")" && pwd)

die() { echo "mkinitramfs: $*" >&2; exit 1; }

# The kernel linux-image-amd64 depends on (not the running one: that is the
# outer host's and has no modules here).
kpkg=$(dpkg-query -W -f='${Depends}' linux-image-amd64 2>/dev/null | grep -o 'linux-image-[^ ,]*' | head -n 1) ||
	die "linux-image-amd64 is not installed"
kver=${kpkg#linux-image-}
moddir=/lib/modules/$kver
[ -r "/boot/vmlinuz-$kver" ] || die "no /boot/vmlinuz-$kver"
[ -r "$moddir/modules.dep" ] || die "no $moddir/modules.dep"
[ -x /bin/busybox ] && /bin/busybox --list | grep -qx insmod || die "no static busybox with insmod at /bin/busybox"
[ -x "$beyond" ] || die "no executable $beyond"
ls "$guests"/*.elf >/dev/null 2>&1 || die "no test guests in $guests: build them with make test-guests"

# Load order for kvm-amd: each module after its dependencies, as modules.dep
# lists them (kvm-amd: ccp kvm irqbypass at the time of writing).
order=()
add_module() { # add_module PATH-RELATIVE-TO-MODDIR
	local m=$1 d deps
	for d in "${order[@]}"; do [ "$d" = "$m" ] && return 0; done
	deps=$(grep -m 1 "^$m:" "$moddir/modules.dep" | cut -d: -f2) || die "$m is not in modules.dep"
	for d in $deps; do add_module "$d"; done
	order+=("$m")
}
kvm_amd=$(grep -o '^[^:]*/kvm-amd\.ko[^:]*' "$moddir/modules.dep" | head -n 1) || die "no kvm-amd in $moddir/modules.dep"
add_module "$kvm_amd"

root=$out/root
rm -rf "$root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,run,etc/nested,lib/modules,tests/nested,guests}
cp /bin/busybox "$root/bin/busybox"
cp "$beyond" "$root/bin/beyond"
cp "$guests"/*.elf "$root/guests/"
cp "$here/init" "$root/init"
cp "$here/checks.sh" "$here/report.sh" "$root/tests/nested/"
chmod 755 "$root/init"
# The kernel opens /dev/console for init before init can mount devtmpfs.
mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true

# Modules are stored uncompressed under their base names (busybox insmod
# takes a plain file), listed in load order in /etc/nested/modules.
: >"$root/etc/nested/modules"
for m in "${order[@]}"; do
	base=$(basename "$m"); base=${base%.xz}; base=${base%.zst}; base=${base%.gz}
	case $m in
	*.xz) xz -dc "$moddir/$m" >"$root/lib/modules/$base" ;;
	*.zst) zstd -qdc "$moddir/$m" >"$root/lib/modules/$base" ;;
	*.gz) gzip -dc "$moddir/$m" >"$root/lib/modules/$base" ;;
	*) cp "$moddir/$m" "$root/lib/modules/$base" ;;
	esac
	echo "$base" >>"$root/etc/nested/modules"
done
echo "$kver" >"$root/etc/nested/kernel"

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -1 >"$out/initramfs.cpio.gz"
ln -sfn "/boot/vmlinuz-$kver" "$out/vmlinuz"
echo "initramfs: kernel $kver, modules: $(tr '\n' ' ' <"$root/etc/nested/modules")" >&2
