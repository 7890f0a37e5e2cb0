#!/usr/bin/env bash
# NBD: many requests in flight on one connection (tests/blk/nbd_client.py
# checks every reply), multi-conn durability (write on one connection,
# FLUSH on another, kill -9, reopen), block status through nbdinfo --map
# and qemu-img map on a thin volume. The server runs with its seccomp
# filter, so the worker threads run under it too.
source "$(dirname "$0")/../harness.sh"

if ! command -v qemu-img >/dev/null || ! command -v python3 >/dev/null; then
	t_skip "nbd concurrent" "qemu-img (qemu-utils) or python3 is missing"
	t_done
	exit
fi

S=$T_TMP/store
SOCK=$T_TMP/nbd.sock
CLIENT="python3 $T_ROOT/tests/blk/nbd_client.py $SOCK"
source "$T_ROOT/tests/blk/nbd_serve.sh"

"$BEYOND" blk create "$S" >/dev/null
"$BEYOND" blk create-volume "$S" disk 64M >/dev/null
"$BEYOND" blk create-volume "$S" thin 16M >/dev/null
serve || { t_done; exit; }

t_expect "2000 requests in flight, every reply checked" 0 timeout 60 $CLIENT inflight 2000
t_grep "replies counted" "$T_TMP/out" "2000 replies checked"

# Multi-conn: a FLUSH on B covers what A wrote; kill -9 right after it.
t_expect "write on A, FLUSH on B" 0 timeout 30 $CLIENT multiconn 7
kill -9 "$SERVER"; wait "$SERVER" 2>/dev/null
serve || { t_done; exit; }
t_expect "after kill -9, A's writes are there" 0 timeout 30 $CLIENT check 7

# A thin volume: data at 1M (2M long) and 8M (64k, its first block then
# zeroed), holes elsewhere.
t_expect "thin volume written" 0 timeout 30 qemu-io -f raw -c "write -P 1 1M 2M" -c "write -P 2 8M 64k" \
	-c "write -z 8M 4k" -c "write -P 3 12M 4k" -c "discard 12M 4k" "$(url thin)"
t_expect "qemu-img map" 0 timeout 30 qemu-img map -f raw --output=json "$(url thin)"
{ tr -d ' \n' <"$T_TMP/out"; echo; } | sed 's/},{/}\n{/g' | sed -E 's/.*"start":([0-9]+),"length":([0-9]+),.*"zero":([a-z]+),"data":([a-z]+).*/\1 \2 \3 \4/' \
	>"$T_TMP/map"
cat >"$T_TMP/want" <<MAP
0 1048576 true false
1048576 2097152 false true
3145728 5246976 true false
8392704 61440 false true
8454144 8323072 true false
MAP
if diff -u "$T_TMP/want" "$T_TMP/map" >"$T_TMP/diff"; then t_pass "qemu-img map: holes, zeroed and trimmed blocks, data"
else t_fail "qemu-img map: holes, zeroed and trimmed blocks, data" "$(cat "$T_TMP/diff")"; fi
if command -v nbdinfo >/dev/null; then
	t_expect "nbdinfo --map" 0 timeout 30 nbdinfo --map "$(url thin)"
	awk '{ print $1, $2, $3 }' "$T_TMP/out" >"$T_TMP/map"
	printf '%s\n' "0 1048576 3" "1048576 2097152 0" "3145728 5246976 3" "8392704 61440 0" "8454144 8323072 3" >"$T_TMP/want"
	if diff -u "$T_TMP/want" "$T_TMP/map" >"$T_TMP/diff"; then t_pass "nbdinfo --map: hole,zero and data runs"
	else t_fail "nbdinfo --map: hole,zero and data runs" "$(cat "$T_TMP/diff")"; fi
	t_expect "nbdinfo lists base:allocation" 0 timeout 30 nbdinfo "$(url thin)"
	t_grep "multi-conn advertised" "$T_TMP/out" "can_multi_conn: true"
	t_grep "fast zero advertised" "$T_TMP/out" "can_fast_zero: true"
else
	t_skip "nbdinfo --map" "nbdinfo (libnbd-bin) is missing"
fi
t_expect "qemu-img convert with holes" 0 timeout 60 qemu-img convert -f raw -O raw "$(url thin)" "$T_TMP/thin.raw"
t_expect "copy compares" 0 timeout 60 qemu-img compare -f raw -F raw "$T_TMP/thin.raw" "$(url thin)"
if grep -q "seccomp" "$T_TMP/serve.log"; then t_fail "no seccomp trap" "$(grep seccomp "$T_TMP/serve.log")"; else t_pass "no seccomp trap"; fi

stop
t_expect "fsck at the end" 0 "$BEYOND" blk fsck "$S"
t_done
