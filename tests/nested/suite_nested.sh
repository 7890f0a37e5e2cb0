#!/usr/bin/env bash
# The test suite inside a QEMU (TCG) guest whose Linux KVM uses AMD nested
# paging (npt=1), then shadow paging (npt=0): builds an initramfs, boots it,
# and turns the guest's NESTED-RESULT console lines into harness results.
# A hang, panic or timeout is a failure with the console tail printed.
source "$(dirname "$0")/../harness.sh"
here=$T_ROOT/tests/nested
out=$T_ROOT/build/nested
console=$out/console.log
# Whole-boot limit; the full run takes a few minutes under TCG.
limit=${NESTED_TIMEOUT:-450}

finish() { t_done; exit; }

if [ ! -x "$BEYOND" ]; then
	t_fail "beyond-binary" "$BEYOND is missing: build it with make"
	finish
fi
if ! "$here/deps.sh"; then
	t_fail "packages" "could not install the nested test's Debian packages"
	finish
fi
mkdir -p "$out"
if ! "$here/mkinitramfs.sh" "$BEYOND" "$T_ROOT/build/tests/guests" "$out"; then
	t_fail "initramfs" "mkinitramfs.sh failed"
	finish
fi

echo "  booting QEMU (TCG, -cpu max: SVM with NPT); console in $console"
rm -f "$out/boot-ms"
: >"$console"
start=$(date +%s%N)
# Boot time as seen from outside: until init's first report reaches the console.
(
	while ! grep -aq 'NESTED-INFO booted' "$console"; do sleep 0.1; done
	echo $((($(date +%s%N) - start) / 1000000)) >"$out/boot-ms"
) &
watcher=$!
# -nographic puts ttyS0 on stdio; stdin is /dev/null so nothing reaches
# QEMU's monitor. panic=-1 with -no-reboot turns a guest panic into an exit.
# thread=single: with multi-threaded TCG the guest kernel locks up within a
# few dozen VM creations, both vCPUs looping in exc_int3 on __schedule (the
# int3 of a live static-key patch, likely KVM's preempt-notifier key, left in
# a stale translation on the other vCPU). One TCG thread keeps code coherent.
# A host 1G page needs a free, aligned GiB: nokaslr keeps the kernel in the
# first one, ACPI tables sit at the top of low RAM, and with -m 4096 (3 GiB
# low) the second GiB is free at boot; with -m 2048 or a randomly placed
# kernel none is. hugepages=1 takes that page into the pool at boot: grown at
# run time, as the monitor does on the outer host, it was found only while the
# page cache had not yet spread into that GiB. TCG allocates guest RAM lazily:
# the outer host pays for what is touched.
timeout -k 10 "$limit" qemu-system-x86_64 -accel tcg,thread=single -cpu max -m 4096 -smp 2 \
	-nographic -no-reboot -nic none \
	-kernel "$out/vmlinuz" -initrd "$out/initramfs.cpio.gz" \
	-append 'console=ttyS0 panic=-1 loglevel=4 oops=panic nokaslr hugepagesz=1G hugepages=1' \
	</dev/null >"$console" 2>&1
qemu_status=$?
elapsed=$((($(date +%s%N) - start) / 1000000))
kill "$watcher" 2>/dev/null
wait "$watcher" 2>/dev/null

# The serial line ends lines with CRLF.
clean=$out/console.clean
tr -d '\r' <"$console" >"$clean"
grep -a '^NESTED-INFO ' "$clean" | sed 's/^NESTED-INFO /  info: /'
ms() { printf '%d.%03ds' $(($1 / 1000)) $(($1 % 1000)); }
echo "  info: QEMU ran $(ms "$elapsed") (booted to init's first line in $( [ -s "$out/boot-ms" ] && ms "$(cat "$out/boot-ms")" || echo '?')), exit status $qemu_status"

results=0
while read -r _ verdict name reason; do
	results=$((results + 1))
	case $verdict in
	PASS) t_pass "$name" ;;
	SKIP) t_skip "$name" "$reason" ;;
	*) t_fail "$name" "$reason" ;;
	esac
done < <(grep -a '^NESTED-RESULT ' "$clean")

done_line=$(grep -a '^NESTED-DONE ' "$clean" | tail -n 1)
if [ -z "$done_line" ]; then
	if [ "$qemu_status" -eq 124 ] || [ "$qemu_status" -eq 137 ]; then
		why="timed out after ${limit}s"
	elif grep -aq 'Kernel panic' "$clean"; then
		why="guest kernel panicked"
	else
		why="guest stopped early (QEMU exit status $qemu_status)"
	fi
	t_fail "completed" "no NESTED-DONE: $why; console tail follows"
	tail -n 40 "$clean" | sed 's/^/  | /'
elif [ "${done_line#NESTED-DONE }" != "$results" ]; then
	t_fail "completed" "guest reported ${done_line#NESTED-DONE } results, host read $results (garbled console?)"
elif [ "$qemu_status" -ne 0 ]; then
	t_fail "completed" "QEMU exit status $qemu_status after NESTED-DONE"
else
	t_pass "completed"
fi
finish
