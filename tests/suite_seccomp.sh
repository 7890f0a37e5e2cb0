#!/usr/bin/env bash
# seccomp on by default: every thread of `beyond run` and `blk serve` runs
# under a filter (/proc/PID/task/*/status), --no-seccomp turns them off and
# is in the help. What a forbidden call does is tested in tests/unit/test_seccomp.c.
source "$(dirname "$0")/harness.sh"

# filtered PID: prints "filtered/threads" for a running process.
filtered() {
	local all=0 on=0 t
	for t in /proc/"$1"/task/*/status; do
		all=$((all + 1))
		grep -q '^Seccomp:[[:space:]]*2' "$t" && on=$((on + 1))
	done
	echo "$on/$all"
}
# check NAME WANT PID [MIN]: the process's threads (MIN at least, default 2)
# are filtered as WANT ("all" or "none").
check() {
	local got n
	got=$(filtered "$3")
	n=${got#*/}
	[ "$n" -ge "${4:-2}" ] && case $2 in
	all) [ "$got" = "$n/$n" ] ;;
	none) [ "$got" = "0/$n" ] ;;
	esac && t_pass "$1 ($got threads filtered)" || t_fail "$1" "$got threads filtered, want ${4:-2} threads at least"
}

t_expect "beyond run --help names --no-seccomp" 0 "$BEYOND" run --help
t_grep "run help text" "$T_TMP/out" "--no-seccomp"
t_expect "beyond blk --help names --no-seccomp" 0 "$BEYOND" blk --help
t_grep "blk help text" "$T_TMP/out" "--no-seccomp"

if have_kvm; then
	for mode in all none; do
		flag=; [ $mode = none ] && flag=--no-seccomp
		"$BEYOND" run $flag --vcpus 2 --timeout 20 "$T_ROOT/build/tests/guests/spin.elf" >/dev/null 2>&1 &
		pid=$!
		sleep 1
		check "beyond run ${flag:-(default)}: main and vCPU threads" $mode $pid
		kill -TERM $pid; wait $pid 2>/dev/null
	done
	t_expect "beyond run --no-seccomp hello" 0 "$BEYOND" run --no-seccomp hello
	# Filters belong to the process's threads: the switch is for the run, not a VM.
	printf '[run]\nno-seccomp\n[vm a]\nguest = %s\nvcpus = 2\ntimeout = 20\n' \
		"$T_ROOT/build/tests/guests/spin.elf" >"$T_TMP/run.conf"
	"$BEYOND" run --config "$T_TMP/run.conf" >/dev/null 2>&1 &
	pid=$!
	sleep 1
	check "[run] no-seccomp in a config file: every thread" none $pid
	kill -TERM $pid; wait $pid 2>/dev/null
	printf '[vm a]\nguest = hello\nno-seccomp\n' >"$T_TMP/vm.conf"
	t_expect "no-seccomp in a [vm] section is refused" 2 "$BEYOND" run --config "$T_TMP/vm.conf"
	t_grep "... naming the key" "$T_TMP/err" "no-seccomp"
else
	t_skip "beyond run filters" "no /dev/kvm"
fi

S=$T_TMP/store SOCK=$T_TMP/nbd.sock
"$BEYOND" blk create "$S" >/dev/null
"$BEYOND" blk create-volume "$S" disk 8M >/dev/null
for mode in all none; do
	flag=; [ $mode = none ] && flag=--no-seccomp
	rm -f "$SOCK"
	"$BEYOND" blk serve "$S" --nbd "unix:$SOCK" $flag 2>/dev/null &
	pid=$!
	for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
	# A client in transmission whose READ was answered: the main (accept)
	# thread, the client's reading thread and the worker that served it.
	coproc HOLD { python3 "$T_ROOT/tests/blk/nbd_hostile.py" "$SOCK" served 1; }
	read -r -t 10 line <&"${HOLD[0]}"
	check "blk serve ${flag:-(default)}: accept, client and worker threads" $mode $pid 3
	eval "exec ${HOLD[1]}>&-"; wait "$HOLD_PID" 2>/dev/null
	kill -TERM $pid
	if wait $pid; then t_pass "blk serve ${flag:-(default)} ends cleanly on SIGTERM"
	else t_fail "blk serve ${flag:-(default)} ends cleanly on SIGTERM" "status $?"; fi
done
t_done
