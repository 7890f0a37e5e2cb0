#!/usr/bin/env bash
# The pager from the command line: its options, swap files that never
# outlive the monitor (even after kill -9) unless kept, a full filesystem,
# memory groups (--config), the balloon moved at run time (beyond balloon),
# swap I/O accounted apart from a guest's disk I/O.
source "$(dirname "$0")/harness.sh"
TG=$T_ROOT/build/tests/guests

for bad in "--mem-limit 0" "--mem-limit 12Q" "--swap-unit 8k" "--pager-mode lazy" "--pager-victim lru" \
	   "--swap-size x" "--balloon -1"; do
	t_expect "usage error: run $bad" 2 "$BEYOND" run $bad hello
	t_grep "names the option: $bad" "$T_TMP/err" "bad --"
done
t_expect "usage error: run --mem-group ''" 2 "$BEYOND" run --mem-group '' hello
t_expect "run --help lists --mem-limit" 0 "$BEYOND" run --help
t_grep "--mem-limit in the usage" "$T_TMP/out" 'mem-limit SIZE'

if ! have_kvm; then
	t_skip "all KVM tests" "/dev/kvm is not usable here"
	t_done
	exit
fi

SW=$T_TMP/swapdir
mkdir -p "$SW"
run_swap() { "$BEYOND" run --mem 96M --mem-limit 24M --swap "$SW" --timeout 60 "$@"; }

t_expect "sweep under a limit" 0 run_swap --stats swap sweep 48M 2
t_grep "stats report swap-ins" "$T_TMP/err" 'swap_ins: [1-9]'
t_expect "limit too small for the monitor's tables" 1 "$BEYOND" run --mem 96M --mem-limit 2M hello
t_grep "says why" "$T_TMP/err" 'too small|must hold'

# A killed monitor leaves no swap file: it is unlinked as soon as it is open.
# (Not through run_swap: $! must be the monitor, not a subshell around it.)
"$BEYOND" run --mem 96M --mem-limit 24M --swap "$SW" --timeout 60 swap hotcold 48M 1000 >/dev/null 2>&1 &
pid=$!
sleep 1
if [ -n "$(ls -A "$SW")" ]; then t_fail "no swap file visible while running" "$(ls "$SW")"; else t_pass "no swap file visible while running"; fi
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
status=$?
if [ "$status" = 137 ]; then t_pass "the monitor was killed (status 137)"; else t_fail "the monitor was killed" "status $status"; fi
if [ -n "$(ls -A "$SW")" ]; then t_fail "kill -9 leaves no swap file" "$(ls "$SW")"; else t_pass "kill -9 leaves no swap file"; fi

t_expect "--swap-keep keeps it" 0 run_swap --swap-keep swap sweep 48M 1
n=$(ls -A "$SW" | wc -l)
if [ "$n" = 1 ]; then t_pass "one kept swap file"; else t_fail "one kept swap file" "found $n"; fi
rm -f "$SW"/*

t_expect "--swap naming an existing file is refused" 1 run_swap --swap "$T_ROOT/Makefile" hello
t_grep "says which file" "$T_TMP/err" 'cannot create swap file'

# A full filesystem: a 4 MiB tmpfs cannot take 24 MiB of evicted data.
if [ "$(id -u)" = 0 ] && mkdir -p "$T_TMP/small" && mount -t tmpfs -o size=4M tmpfs "$T_TMP/small" 2>/dev/null; then
	t_expect "swap on a full filesystem ends the guest" 125 "$BEYOND" run --mem 96M --mem-limit 24M \
		--swap "$T_TMP/small" --timeout 60 swap sweep 48M 2
	t_grep "full filesystem named" "$T_TMP/err" 'swap file: No space left on device'
	umount "$T_TMP/small"
else
	t_skip "swap on a full filesystem" "needs root to mount a small tmpfs"
fi

# --- memory groups: two VMs of one process share the sum of their limits --------------
group_conf() { # VICTIM: two VMs in group pool, 24M limit each; the big one chooses victims by VICTIM
	for vm in "big 40M pager-victim = $1" "small 8M"; do
		set -- $vm
		printf '[vm %s]\nguest = swap\nargs = sweep %s 2\nmem = 96M\nmem-limit = 24M\nmem-group = pool\nswap = %s\n%s\n' \
			"$1" "$2" "$SW" "${*:3}"
	done
}
group_conf clock >"$T_TMP/group.conf"
t_expect "memory group: both VMs' data intact" 0 "$BEYOND" run --config "$T_TMP/group.conf" --stats-json "$T_TMP/group.json"
t_expect "the big VM alone under its own limit" 0 run_swap --stats-json "$T_TMP/alone.json" swap sweep 40M 2
if python3 - "$T_TMP/group.json" "$T_TMP/alone.json" >"$T_TMP/py" 2>&1 <<'PY'
import json, sys
vms = {v["vm"]: v["modules"]["pager"] for v in json.load(open(sys.argv[1]))["vms"]}
alone = json.load(open(sys.argv[2]))["modules"]["pager"]
big, small = vms["big"]["memory"], vms["small"]["memory"]
limit = big["group_limit"]
assert limit == 48 << 20 == small["group_limit"], ("group limit", limit)
# The big VM held more than its own 24M (half the group's), the two together never more than 48M.
assert big["resident_peak"] > limit // 2, ("big never exceeded half the group limit", big["resident_peak"])
assert alone["memory"]["resident_peak"] <= 24 << 20, ("alone over its limit", alone["memory"]["resident_peak"])
assert max(big["group_resident_peak"], small["group_resident_peak"]) <= limit, ("group over its limit", big)
# Victims across the group: the small VM lost units to the big one's faults.
assert small["evicted_for_group"] > 0, ("no victim taken from the other VM", small)
print("big peak %d MiB, group peak %d MiB of %d; swap-in %d MiB (alone %d MiB); %d units of small evicted for big" % (
    big["resident_peak"] >> 20, big["group_resident_peak"] >> 20, limit >> 20,
    vms["big"]["swap"]["swap_in_bytes"] >> 20, alone["swap"]["swap_in_bytes"] >> 20, small["evicted_for_group"]))
PY
then t_pass "memory group shares one limit: $(cat "$T_TMP/py")"; else t_fail "memory group shares one limit" "$(tail -c 400 "$T_TMP/py")"; fi
group_conf fifo >"$T_TMP/group.conf"
t_expect "a group's members must agree on --pager-victim" 1 "$BEYOND" run --config "$T_TMP/group.conf"
t_grep "says so" "$T_TMP/err" 'must all use one --pager-victim'

# --- the balloon target moves while the guest runs (beyond balloon) ----------------------
sock=$T_TMP/ctl.sock vm=$TG/follow.elf
"$BEYOND" run --control "$sock" --mem 96M --balloon 0 --timeout 60 "$vm" >"$T_TMP/follow.out" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q polling "$T_TMP/follow.out" && break; sleep 0.05; done
stat_of() { "$BEYOND" stat "$sock" | sed -n "s/^ *$1: //p"; }
before=$(stat_of host_resident)
t_expect "beyond balloon 32M" 0 "$BEYOND" balloon "$sock" "$vm" 32M && t_grep "answers ok" "$T_TMP/out" '^ok'
for _ in $(seq 100); do [ "$(stat_of ballooned)" = $((32 << 20)) ] && break; sleep 0.05; done
after=$(stat_of host_resident)
if [ "$(stat_of ballooned)" = $((32 << 20)) ] && [ $((before - after)) -ge $((30 << 20)) ]; then
	t_pass "the guest gave back 32M while running; host resident $((before >> 20)) -> $((after >> 20)) MiB"
else
	t_fail "the guest gave back 32M while running" "ballooned $(stat_of ballooned), host resident $before -> $after"
fi
t_expect "beyond balloon: an unknown VM" 1 "$BEYOND" balloon "$sock" nosuchvm 1M
t_grep "names it" "$T_TMP/out" "no VM named 'nosuchvm'"
t_expect "beyond balloon: more than RAM" 1 "$BEYOND" balloon "$sock" "$vm" 1G
t_expect "beyond balloon 0 takes it all back" 0 "$BEYOND" balloon "$sock" "$vm" 0
wait $pid
st=$?
if [ $st = 0 ] && grep -q 'ballooned 32 MiB' "$T_TMP/follow.out" && grep -q '0 words wrong' "$T_TMP/follow.out"; then
	t_pass "the guest followed 32M and back, data intact"
else
	t_fail "the guest followed 32M and back, data intact" "exit $st: $(tail -c 300 "$T_TMP/follow.out")"
fi
t_expect "beyond balloon usage" 2 "$BEYOND" balloon "$sock"
t_expect "beyond balloon without a monitor" 1 "$BEYOND" balloon "$sock" "$vm" 1M
# A VM without a pager cannot be ballooned: the answer says how to start one.
"$BEYOND" run --control "$sock" --mem 64M --timeout 20 "$TG/pvhostile.elf" wait-forever >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
t_expect "beyond balloon: a VM without a pager" 1 "$BEYOND" balloon "$sock" "$TG/pvhostile.elf" 2M
t_grep "says how" "$T_TMP/out" 'without a pager'
kill $pid 2>/dev/null
wait $pid 2>/dev/null

# --- swap I/O is the pager's, disk I/O the guest's: neither counts the other ---------------
truncate -s 16M "$T_TMP/disk.img"
t_expect "a disk guest under a limit" 0 run_swap --mem 64M --mem-limit 4M --swap-unit 4k --disk file="$T_TMP/disk.img" \
	--stats-json "$T_TMP/io.json" disk fill 0 7
if python3 - "$T_TMP/io.json" >"$T_TMP/py" 2>&1 <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["modules"]
swap, disk = m["pager"]["swap"], m["virtio-blk"]["total"]
# The guest wrote its 16 MiB disk once and read nothing; the pager's own traffic is apart.
assert disk["write_bytes"] == 16 << 20 and disk["read_bytes"] == 0, ("disk counts", disk)
assert swap["swap_out_bytes"] > 0 and swap["swap_in_bytes"] > 0, ("no swap traffic", swap)
print("disk: %d MiB written, 0 read; swap: %d MiB out, %d MiB in" % (disk["write_bytes"] >> 20,
      swap["swap_out_bytes"] >> 20, swap["swap_in_bytes"] >> 20))
PY
then t_pass "swap and disk I/O counted apart: $(cat "$T_TMP/py")"; else t_fail "swap and disk I/O counted apart" "$(tail -c 400 "$T_TMP/py")"; fi
t_done
