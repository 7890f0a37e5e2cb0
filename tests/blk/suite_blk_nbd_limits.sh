#!/usr/bin/env bash
# NBD server limits against hostile clients (tests/blk/nbd_hostile.py):
# export names with NUL, silent connections, a client limit, handshake and
# idle timeouts, memory per client; large requests still served whole; no
# busy loop when the server runs out of descriptors.
source "$(dirname "$0")/../harness.sh"

if ! command -v qemu-img >/dev/null || ! command -v qemu-io >/dev/null || ! command -v python3 >/dev/null; then
	t_skip "nbd limits" "qemu-img, qemu-io (qemu-utils) or python3 is missing"
	t_done
	exit
fi

S=$T_TMP/store
SOCK=$T_TMP/nbd.sock
HOSTILE="python3 $T_ROOT/tests/blk/nbd_hostile.py $SOCK"
source "$T_ROOT/tests/blk/nbd_serve.sh"
# hold NAME TEST ARGS...: starts a holding hostile client on fd 3/4, waits for "ready".
hold() {
	local name=$1
	shift
	coproc HOLDER { $HOSTILE "$@" 2>&1; }
	if read -r -t 30 line <&"${HOLDER[0]}" && [ "$line" = ready ]; then return 0; fi
	t_fail "$name" "hostile client not ready: ${line:-nothing}"
	return 1
}
release() { eval "exec ${HOLDER[1]}>&-"; wait "$HOLDER_PID" 2>/dev/null; }

"$BEYOND" blk create "$S" >/dev/null
"$BEYOND" blk create-volume "$S" disk 64M >/dev/null

t_expect "bad --max-clients refused" 2 "$BEYOND" blk serve "$S" --nbd "unix:$SOCK" --max-clients 0
t_expect "bad --timeout refused" 2 "$BEYOND" blk serve "$S" --nbd "unix:$SOCK" --timeout x

serve || { t_done; exit; }
t_expect "export name with NUL refused (OPT_GO, OPT_INFO)" 0 $HOSTILE nul
# 64 connections that never send a byte: a real client still gets in.
if hold "64 silent connections" silent 64; then
	t_expect "a real client gets in past 64 silent connections" 0 timeout 10 qemu-img info "$(url disk)"
	release
fi
# Memory: 8 clients each stalled inside a 32 MiB write hold 1 MiB each, not 32.
if hold "stalled writes" stall 8 24; then
	rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$SERVER/status")
	if [ "$rss" -lt $((64 << 10)) ]; then t_pass "8 stalled 32 MiB writes: server RSS ${rss} KiB < 64 MiB"
	else t_fail "8 stalled 32 MiB writes: server RSS" "${rss} KiB"; fi
	release
fi
# Requests larger than the 1 MiB chunk, through the store and back.
t_expect "20 MiB write and read in one request each" 0 timeout 60 qemu-io -f raw \
	-c "write -P 0x37 1M 20M" -c "read -P 0x37 1M 20M" "$(url disk)"
if grep -q "Pattern verification failed" "$T_TMP/out"; then t_fail "20 MiB pattern verifies" "$(cat "$T_TMP/out")"; else t_pass "20 MiB pattern verifies"; fi
stop

serve --max-clients 2 --timeout 1 --idle-timeout 2 || { t_done; exit; }
t_expect "a silent connection is closed after --timeout" 0 $HOSTILE closed-within 4
t_expect "an idle client is closed after --idle-timeout" 0 $HOSTILE idle-closed-within 5
if hold "two clients in transmission" go 2; then
	t_expect "a third client is turned away (--max-clients 2)" 0 $HOSTILE turned-away
	release
fi
t_expect "with the two gone, a client gets in" 0 timeout 10 qemu-img info "$(url disk)"
stop

# Out of descriptors: the server waits for one instead of spinning on accept.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
serve || { t_done; exit; }
prlimit --pid "$SERVER" --nofile=24:24
if hold "connections past the descriptor limit" silent 40; then
	sleep 0.5
	before=$(cpu_ticks "$SERVER")
	sleep 2
	used=$(($(cpu_ticks "$SERVER") - before))
	if [ "$used" -lt 50 ]; then t_pass "out of descriptors: $used ticks of CPU in 2 s"
	else t_fail "out of descriptors: the server spins" "$used ticks of CPU in 2 s"; fi
	release
	t_expect "with descriptors back, a client gets in" 0 timeout 10 qemu-img info "$(url disk)"
fi
stop
t_expect "fsck after hostile clients" 0 "$BEYOND" blk fsck "$S"
t_done
