#!/usr/bin/env bash
# Integration tests of `beyond run`: built-in guests, every page-size
# combination, hostile guests (test-only images, run as files) and broken images.
source "$(dirname "$0")/harness.sh"
TG=$T_ROOT/build/tests/guests

t_expect "version" 0 "$BEYOND" version && t_grep "version names the ABI" "$T_TMP/out" 'guest ABI [0-9]+'
t_expect "guests lists built-ins" 0 "$BEYOND" guests
for g in hello smp exit tlb; do t_grep "guests lists $g" "$T_TMP/out" "^$g "; done
for g in fault badcall spin; do
	if grep -q "^$g " "$T_TMP/out"; then t_fail "guests leaves out test-only $g" "$(cat "$T_TMP/out")"; else t_pass "guests leaves out test-only $g"; fi
done
t_expect "no arguments is a usage error" 2 "$BEYOND"
t_expect "unknown command" 2 "$BEYOND" frobnicate
t_expect "run --help" 0 "$BEYOND" run --help
for bad in "--mem 12Q hello" "--mem 99999999999999999999G hello" "--vcpus 0 hello" "--vcpus x hello" \
	   "--guest-pages 3k hello" "--host-pages huge hello" "--timeout -1 hello" "--timeout nan hello" \
	   "--timeout inf hello" "--timeout 1e300 hello" "--bogus hello" ""; do
	t_expect "usage error: run $bad" 2 "$BEYOND" run $bad
	t_grep "usage error names the problem: run $bad" "$T_TMP/err" 'beyond: |usage:'
done
t_expect "missing guest file" 1 "$BEYOND" run ./no/such/guest.elf
t_expect "unknown guest name" 1 "$BEYOND" run no-such-guest
t_expect "test-only guests are not built in" 1 "$BEYOND" run fault

if ! have_kvm; then
	t_skip "all KVM tests" "/dev/kvm is not usable here"
	t_done
	exit
fi

# --- guests on every page-size combination ------------------------------------
pdpe1gb=1
"$BEYOND" run --guest-pages 1g --mem 1G hello >/dev/null 2>"$T_TMP/1g" || pdpe1gb=0
for gp in 4k 2m 1g; do
	for hp in 4k thp hugetlb2m hugetlb1g; do
		for n in 1 2; do
			name="hello guest $gp host $hp vcpus $n"
			if [ $gp = 1g ] && [ $pdpe1gb = 0 ]; then
				t_expect "$name refused: no pdpe1gb" 1 "$BEYOND" run --vcpus $n --mem 1G --guest-pages $gp --host-pages $hp hello &&
					t_grep "$name says why" "$T_TMP/err" 'pdpe1gb'
				continue
			fi
			"$BEYOND" run --vcpus $n --mem 1G --guest-pages $gp --host-pages $hp -v hello >"$T_TMP/out" 2>"$T_TMP/err"
			st=$?
			# A fragmented host may have no free, aligned GiB left even after
			# compaction: the monitor must say so (status 1), which is no failure of ours.
			if [ $st -eq 1 ] && [ $hp = hugetlb1g ] && grep -q 'cannot get .* 1G huge pages' "$T_TMP/err"; then
				t_skip "$name" "$(cat "$T_TMP/err")"
				continue
			fi
			if [ $st -eq 0 ]; then t_pass "$name"; else t_fail "$name" "exit $st: $(tail -c 300 "$T_TMP/err")"; fi
			t_grep "$name greets with $n vCPUs" "$T_TMP/out" "Hello from beyond.* $n vCPUs?,"
			case $hp in
			hugetlb*) t_grep "$name is all on huge pages" "$T_TMP/err" ' 100% on huge pages' ;;
			4k) t_grep "$name is on no huge pages" "$T_TMP/err" ' 0% on huge pages' ;;
			esac
		done
	done
done
t_expect "hello passes arguments" 0 "$BEYOND" run hello one two && t_grep "hello sees its arguments" "$T_TMP/out" 'args: one two'
for n in 1 2 4 8; do
	t_expect "smp with $n vCPUs" 0 "$BEYOND" run --vcpus $n smp && t_grep "smp $n all checked in" "$T_TMP/out" "all $n vCPUs"
done
t_expect "smp with 4k guest pages" 0 "$BEYOND" run --vcpus 2 --guest-pages 4k --host-pages 4k smp
for code in 0 1 42 255; do t_expect "exit code $code passes through" $code "$BEYOND" run exit $code; done
t_expect "exit code over 255 is clamped" 255 "$BEYOND" run exit 300
t_expect "4 GiB guest" 0 "$BEYOND" run --mem 4G --guest-pages 4k hello
t_expect "--mem not a multiple of the guest page" 1 "$BEYOND" run --mem 5M hello
t_expect "--mem too small" 1 "$BEYOND" run --mem 2M --guest-pages 4k hello
t_expect "too many vCPUs" 1 "$BEYOND" run --vcpus 65 hello

# --- hostile guests end themselves only, with one line naming the reason ------
for g in fault badcall spin; do
	[ -r "$TG/$g.elf" ] || t_fail "test guest $g.elf" "missing in $TG: build it with make test-guests"
done
hostile() { # NAME REGEX [OPTIONS...] GUEST [ARGS...]: exit 125 and a reason line matching REGEX
	local name=$1 re=$2
	shift 2
	t_expect "$name ends abnormally" 125 "$BEYOND" run "$@" && t_grep "$name: reason" "$T_TMP/err" "$re"
}
hostile "fault div" 'divide error \(vector 0.*cpl=3' "$TG/fault.elf"
hostile "fault pf" 'page fault \(vector 14.*cr2=0x' "$TG/fault.elf" pf
hostile "fault ud" 'invalid opcode \(vector 6' "$TG/fault.elf" ud
hostile "fault gp (hlt at CPL3)" 'general protection \(vector 13' "$TG/fault.elf" gp
hostile "fault bp (int3 at CPL3)" 'breakpoint \(vector 3' "$TG/fault.elf" bp
hostile "fault on vCPU 0 of 2" 'divide error' --vcpus 2 "$TG/fault.elf"
hostile "fault hlt (HLT in ring 0)" 'executed HLT' "$TG/fault.elf" hlt
t_grep "HLT end dumps registers" "$T_TMP/err" 'cs 0008'
hostile "fault triple (IDT wiped)" 'triple fault \(shutdown\)' "$TG/fault.elf" triple
t_grep "triple fault dumps registers" "$T_TMP/err" 'rip [0-9a-f]{16} rsp'
hostile "badcall buf" 'bad hypercall.*console buffer.*outside guest RAM' "$TG/badcall.elf" buf
hostile "badcall struct" 'bad hypercall.*console struct.*outside guest RAM' "$TG/badcall.elf" struct
hostile "badcall len" 'bad hypercall.*console buffer.*outside guest RAM' "$TG/badcall.elf" len
hostile "badcall wrap" 'bad hypercall.*0xfffffffffffffff8' "$TG/badcall.elf" wrap
hostile "badcall port" 'unhandled port I/O' "$TG/badcall.elf" port
t_grep "badcall port dumps registers" "$T_TMP/err" 'rip [0-9a-f]{16}'
t_grep "badcall stops the guest" "$T_TMP/out" '^badcall: port$'
if grep -q 'still running' "$T_TMP/out"; then t_fail "badcall guest ran on" "$(cat "$T_TMP/out")"; else t_pass "badcall guest did not run on"; fi
hostile "spin times out" 'timeout after 1 s' --timeout 1 "$TG/spin.elf"
hostile "spin on 4 vCPUs times out" 'timeout' --vcpus 4 --timeout 0.5 "$TG/spin.elf"

# A console nobody reads any more loses output, never the monitor (no SIGPIPE death).
if python3 -c '
import os, subprocess, sys
r, w = os.pipe(); os.close(r)
sys.exit(subprocess.run([sys.argv[1], "run", "hello"], stdout=w).returncode)' "$BEYOND"; then
	t_pass "closed console pipe: guest still exits 0"
else
	t_fail "closed console pipe: guest still exits 0" "exit $?"
fi

# Killed by SIGTERM, the monitor gives back the huge pages it added to the pool.
pool=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
before=$(cat $pool)
"$BEYOND" run --mem 64M --host-pages hugetlb2m --prefault "$TG/spin.elf" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 50); do [ "$(cat $pool)" != "$before" ] && break; sleep 0.1; done
grown=$(cat $pool)
kill -TERM $pid
wait $pid
st=$?
if [ "$grown" = "$before" ]; then
	t_skip "SIGTERM returns hugetlb pages" "the pool had free pages: the monitor added none"
elif [ $st -eq 143 ] && [ "$(cat $pool)" = "$before" ]; then
	t_pass "SIGTERM returns hugetlb pages"
else
	t_fail "SIGTERM returns hugetlb pages" "exit $st, pool $before -> $grown -> $(cat $pool)"
fi

# --- broken images --------------------------------------------------------------
img=$T_ROOT/build/guests/hello.elf
head -c 100 "$img" >"$T_TMP/trunc.elf"
head -c 5000 "$img" >"$T_TMP/trunc2.elf"
: >"$T_TMP/empty.elf"
head -c 65536 /dev/urandom >"$T_TMP/random.elf"
cp /bin/true "$T_TMP/host.elf"
cp "$img" "$T_TMP/abi.elf"
python3 - "$T_TMP/abi.elf" <<'PY'
import struct, sys
p = sys.argv[1]; b = bytearray(open(p, 'rb').read())
phoff, = struct.unpack_from('<Q', b, 32); phnum, = struct.unpack_from('<H', b, 56)
for i in range(phnum):
    o = phoff + 56 * i
    if struct.unpack_from('<I', b, o)[0] == 4:  # PT_NOTE: bump the ABI version
        off, = struct.unpack_from('<Q', b, o + 8)
        struct.pack_into('<I', b, off + 20, 99)
open(p, 'wb').write(b)
PY
for f in trunc trunc2 empty random host abi; do
	t_expect "broken image $f refused" 1 "$BEYOND" run "$T_TMP/$f.elf" && t_grep "broken image $f: reason" "$T_TMP/err" 'beyond: (bad guest image|cannot)'
done
t_grep "wrong ABI is named" "$T_TMP/err" 'ABI version 99'
t_expect "directory as image" 1 "$BEYOND" run "$T_TMP"
t_expect "file image runs" 0 "$BEYOND" run "$img" && t_grep "file image greets" "$T_TMP/out" 'Hello'

# --- accounting ---------------------------------------------------------------------
t_expect "run --stats" 0 "$BEYOND" run --stats --vcpus 2 smp &&
	t_grep "--stats counts each vCPU's exits" "$T_TMP/err" '^    vcpu1:$' &&
	t_grep "--stats counts hypercalls" "$T_TMP/err" 'hypercall_exits: [1-9]'
t_expect "run --stats-json" 0 "$BEYOND" run --stats-json "$T_TMP/stats.json" hello &&
	python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["modules"]["core"]["vcpu0"]["exits"] > 0' \
		"$T_TMP/stats.json" && t_pass "--stats-json writes valid JSON with the core's counts" ||
	t_fail "--stats-json writes valid JSON with the core's counts" "$(cat "$T_TMP/stats.json")"
t_expect "run --stats-json to an unwritable path" 1 "$BEYOND" run --stats-json /nonexistent/dir/s.json hello

t_done
