#!/usr/bin/env bash
# The pager from the command line: its options, swap files that never
# outlive the monitor (even after kill -9) unless kept, a full filesystem.
source "$(dirname "$0")/harness.sh"

for bad in "--mem-limit 0" "--mem-limit 12Q" "--swap-unit 8k" "--pager-mode lazy" "--pager-victim lru" \
	   "--swap-size x" "--balloon -1"; do
	t_expect "usage error: run $bad" 2 "$BEYOND" run $bad hello
	t_grep "names the option: $bad" "$T_TMP/err" "bad --"
done
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
run_swap swap hotcold 48M 1000 >/dev/null 2>&1 &
pid=$!
sleep 1
if [ -n "$(ls -A "$SW")" ]; then t_fail "no swap file visible while running" "$(ls "$SW")"; else t_pass "no swap file visible while running"; fi
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
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
t_done
