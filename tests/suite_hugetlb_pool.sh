#!/usr/bin/env bash
# The hugetlb pool across monitor processes: concurrent monitors neither lose
# pool updates nor take each other's pages, and a monitor killed with SIGKILL
# has its pages given back by the next one.
source "$(dirname "$0")/harness.sh"

pool=/sys/kernel/mm/hugepages/hugepages-2048kB
if ! have_kvm || [ "$(id -u)" != 0 ] || [ ! -w $pool/nr_hugepages ]; then
	t_skip "hugetlb pool tests" "need /dev/kvm and root to change the 2M pool"
	t_done
	exit
fi
spare() { echo $(($(cat $pool/free_hugepages) - $(cat $pool/resv_hugepages))); }
start=$(cat $pool/nr_hugepages)

# Three monitors at a time, each growing the pool for 32 pages and shrinking it again.
for k in 1 2 3; do
	( for j in $(seq 30); do
		"$BEYOND" run --host-pages hugetlb2m --mem 64M hello >/dev/null 2>>"$T_TMP/race$k.err" ||
			echo "run $j failed" >>"$T_TMP/race$k.err"
	done ) &
done
wait
if cat "$T_TMP"/race*.err | grep -q .; then
	t_fail "90 concurrent hugetlb runs all start" "$(cat "$T_TMP"/race*.err | head -c 300)"
else
	t_pass "90 concurrent hugetlb runs all start"
fi
[ "$(cat $pool/nr_hugepages)" = "$start" ] && t_pass "concurrent runs leave the pool as they found it" ||
	t_fail "concurrent runs leave the pool as they found it" "nr_hugepages $start -> $(cat $pool/nr_hugepages)"

# A monitor that must grow the pool, killed with SIGKILL: nothing gives its pages back but the next monitor.
mem=$(( ($(spare) + 16) * 2 ))M
"$BEYOND" run --host-pages hugetlb2m --mem "$mem" --timeout 60 "$T_ROOT/build/tests/guests/spin.elf" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do [ -f /run/beyond-hugetlb/$pid ] && break; sleep 0.1; done
grown=$(cat $pool/nr_hugepages)
kill -9 $pid
wait $pid 2>/dev/null
[ "$grown" -gt "$start" ] && t_pass "a monitor grows the pool when short ($start -> $grown)" ||
	t_fail "a monitor grows the pool when short" "nr_hugepages stayed $grown"
t_expect "the next monitor runs" 0 "$BEYOND" run --host-pages hugetlb2m --mem 4M hello
[ "$(cat $pool/nr_hugepages)" = "$start" ] && t_pass "the next monitor gives back a killed one's pages" ||
	t_fail "the next monitor gives back a killed one's pages" "nr_hugepages $start -> $(cat $pool/nr_hugepages)"
[ ! -e /run/beyond-hugetlb/$pid ] && t_pass "the killed monitor's record is gone" ||
	t_fail "the killed monitor's record is gone" "$(cat /run/beyond-hugetlb/$pid)"
t_done
