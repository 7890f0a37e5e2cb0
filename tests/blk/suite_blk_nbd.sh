#!/usr/bin/env bash
# NBD export, tested with real clients from qemu-utils: qemu-img convert /
# compare, qemu-io pattern writes and reads, several clients at once, FUA
# and FLUSH durability across kill -9 of the server.
source "$(dirname "$0")/../harness.sh"

if ! command -v qemu-img >/dev/null || ! command -v qemu-io >/dev/null; then
	t_skip "nbd" "qemu-img and qemu-io (qemu-utils) are missing"
	t_done
	exit
fi

S=$T_TMP/store
SOCK=$T_TMP/nbd.sock
source "$T_ROOT/tests/blk/nbd_serve.sh"
stop_checked() {
	if stop; then t_pass "server exits cleanly on SIGTERM"; else t_fail "server exits cleanly on SIGTERM" "status $?"; fi
}

"$BEYOND" blk create "$S" >/dev/null
"$BEYOND" blk create-volume "$S" disk 64M >/dev/null
"$BEYOND" blk create-volume "$S" other 16M >/dev/null
head -c 24M /dev/urandom >"$T_TMP/img"
head -c 8M /dev/zero >>"$T_TMP/img"
head -c 16M "$T_TMP/img" >>"$T_TMP/img"
truncate -s 64M "$T_TMP/img"

serve && t_pass "server starts"
t_expect "qemu-img info" 0 timeout 30 qemu-img info "$(url disk)"
t_grep "size is the volume's" "$T_TMP/out" "67108864 bytes"
t_expect "unknown export refused" 1 timeout 30 qemu-img info "$(url nosuch)"
t_expect "qemu-img convert into the store" 0 timeout 60 qemu-img convert -n -f raw -O raw "$T_TMP/img" "$(url disk)"
t_expect "qemu-img compare" 0 timeout 60 qemu-img compare -f raw -F raw "$T_TMP/img" "$(url disk)"
if command -v qemu-nbd >/dev/null; then
	t_expect "NBD_OPT_LIST" 0 timeout 30 qemu-nbd --list -k "$SOCK"
	t_grep "list names the volumes" "$T_TMP/out" "export: 'other'"
fi

# Pattern writes at random places (unaligned, of odd lengths; each in a
# region of its own), zeroes and a discard, then reads that check each.
cmds=() checks=()
for i in $(seq 0 39); do
	off=$(( i * (1536 << 10) + (RANDOM * 32768 + RANDOM) % (512 << 10) ))
	len=$(( 1 + RANDOM % 30000 ))
	cmds+=(-c "write -P $((i + 1)) $off $len")
	checks+=(-c "read -P $((i + 1)) $off $len")
done
cmds+=(-c "write -z 61M 65536" -c "discard 62M 1M" -c flush)
checks+=(-c "read -P 0 61M 65536" -c "read -P 0 62M 1M")
t_expect "qemu-io pattern writes" 0 timeout 60 qemu-io -f raw "${cmds[@]}" "$(url disk)"
t_expect "qemu-io pattern reads" 0 timeout 60 qemu-io -f raw "${checks[@]}" "$(url disk)"
if grep -q "Pattern verification failed" "$T_TMP/out"; then t_fail "patterns verify" "$(grep -m1 Pattern "$T_TMP/out")"; else t_pass "patterns verify"; fi
t_grep "every read ran" "$T_TMP/out" "read 1048576/1048576 bytes at offset 65011712"

# Several clients at once, on two volumes.
pids=()
for c in 1 2 3; do
	vol=disk; [ "$c" = 3 ] && vol=other
	qemu-io -f raw -c "write -P $((c + 100)) $((c << 20)) 1M" -c "read -P $((c + 100)) $((c << 20)) 1M" \
		"$(url $vol)" >"$T_TMP/c$c.out" 2>&1 &
	pids+=($!)
done
ok=1
for c in 1 2 3; do wait "${pids[$((c - 1))]}" || ok=0; grep -q "Pattern verification failed" "$T_TMP/c$c.out" && ok=0; done
if [ $ok = 1 ]; then t_pass "three clients at once"; else t_fail "three clients at once" "$(cat "$T_TMP"/c*.out | tail -3)"; fi

"$BEYOND" blk snapshot "$S" disk snap >/dev/null 2>&1 && t_fail "snapshot while serving" "store lock not held" ||
	t_pass "store is locked while served"

# Acknowledged writes survive kill -9: one with FUA, one followed by FLUSH.
t_expect "write with FUA" 0 timeout 30 qemu-io -f raw -c "write -f -P 0x5a 40M 64k" "$(url disk)"
t_expect "write then flush" 0 timeout 30 qemu-io -f raw -c "write -P 0x6b 41M 100k" -c flush "$(url disk)"
kill -KILL "$SERVER"; wait "$SERVER" 2>/dev/null
t_expect "fsck after kill -9" 0 "$BEYOND" blk fsck "$S"
serve && t_pass "server restarts"
t_expect "FUA write survived" 0 timeout 30 qemu-io -f raw -c "read -P 0x5a 40M 64k" -c "read -P 0x6b 41M 100k" "$(url disk)"
if grep -q "Pattern verification failed" "$T_TMP/out"; then t_fail "acknowledged data intact" "$(cat "$T_TMP/out")"; else t_pass "acknowledged data intact"; fi
stop_checked
t_expect "snapshot after serve" 0 "$BEYOND" blk snapshot "$S" disk snap
if serve; then
	t_expect "snapshot is read-only over NBD" 1 timeout 30 qemu-io -f raw -c "write -P 1 0 4k" "$(url snap)"
	t_expect "snapshot reads" 0 timeout 30 qemu-io -f raw -r -c "read -P 0x5a 40M 64k" "$(url snap)"
	stop
fi

# TCP.
port=$((20000 + RANDOM % 20000))
"$BEYOND" blk serve "$S" --nbd "tcp:127.0.0.1:$port" 2>/dev/null &
SERVER=$!
for _ in $(seq 40); do qemu-img info "nbd://127.0.0.1:$port/disk" >/dev/null 2>&1 && break; sleep 0.05; done
t_expect "tcp export" 0 timeout 60 qemu-io -f raw -r -c "read -P 0x5a 40M 64k" "nbd://127.0.0.1:$port/disk"
if grep -q "Pattern verification failed" "$T_TMP/out"; then t_fail "tcp read verifies" "$(cat "$T_TMP/out")"; else t_pass "tcp read verifies"; fi
stop
# Background dedup: duplicates written through NBD are merged while serving.
S=$T_TMP/bg
"$BEYOND" blk create "$S" --dedup background >/dev/null
"$BEYOND" blk create-volume "$S" a 8M >/dev/null
"$BEYOND" blk create-volume "$S" b 8M >/dev/null
if serve; then
	head -c 4M /dev/urandom >"$T_TMP/r4"
	qemu-img convert -n -f raw -O raw "$T_TMP/r4" "$(url a)" && qemu-img convert -n -f raw -O raw "$T_TMP/r4" "$(url b)"
	sleep 6	# the dedup thread runs every 5 s
	stop
	t_expect "stat after background dedup" 0 "$BEYOND" blk stat "$S" --json
	t_grep "duplicates merged while serving" "$T_TMP/out" '"unique_bytes": 4194304,'
	"$BEYOND" blk export "$S" b "$T_TMP/b.out"
	t_expect "data intact after background dedup" 0 cmp -n 4194304 "$T_TMP/r4" "$T_TMP/b.out"
fi
S=$T_TMP/store

t_expect "bad address" 1 "$BEYOND" blk serve "$S" --nbd "carrier-pigeon:1"
t_expect "fsck at the end" 0 "$BEYOND" blk fsck "$S"
t_done
