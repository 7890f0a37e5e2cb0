#!/usr/bin/env bash
# virtio-blk from the command line: a guest writes a pattern into a store
# volume, `beyond blk export` gives it back and the host compares; several
# disks per VM; read-only disks; kill -9 of the monitor after a completed
# FLUSH loses nothing; --stats-json counts; an IOPS cap holds.
source "$(dirname "$0")/harness.sh"

if ! have_kvm; then
	t_skip "virtio-blk" "no /dev/kvm"
	t_done
	exit
fi

S=$T_TMP/store
"$BEYOND" blk create "$S" >/dev/null
"$BEYOND" blk create-volume "$S" vol 16M >/dev/null
"$BEYOND" blk create-volume "$S" other 4M >/dev/null
truncate -s 8M "$T_TMP/raw"

# The pattern of the disk guest: the 8-byte word at offset o is seed * golden ^ o.
check_pattern() {
	python3 - "$1" "$2" "$3" <<'PY'
import struct, sys
path, seed, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
k = (seed * 0x9e3779b97f4a7c15) % (1 << 64)
data = open(path, "rb").read()
if len(data) < size:
    sys.exit("export has %d bytes" % len(data))
for o in range(0, size, 8):
    if struct.unpack_from("<Q", data, o)[0] != k ^ o:
        sys.exit("mismatch at %d" % o)
PY
}

t_expect "guest fills a store volume" 0 "$BEYOND" run --timeout 60 --disk "store=$S,vol=vol" disk fill 0 7
t_grep "the fill was flushed" "$T_TMP/out" "0 errors, flush status 0"
t_expect "export the volume" 0 "$BEYOND" blk export "$S" vol "$T_TMP/vol.img"
if err=$(check_pattern "$T_TMP/vol.img" 7 $((16 << 20)) 2>&1); then t_pass "host finds the guest's pattern"; else t_fail "host finds the guest's pattern" "$err"; fi
t_expect "the exported image reads back in a guest (raw file disk)" 0 \
	"$BEYOND" run --timeout 60 --disk "file=$T_TMP/vol.img,ro" disk verify 0 7

# Chains with several data segments: 1 MiB requests written as 8 x 128 KiB, read as 4 x 256 KiB.
cp "$T_TMP/vol.img" "$T_TMP/seg.img"
t_expect "guest writes a raw file in 8 segments a request" 0 \
	"$BEYOND" run --timeout 60 --disk "file=$T_TMP/seg.img" disk fill 0/131072 9
if err=$(check_pattern "$T_TMP/seg.img" 9 $((16 << 20)) 2>&1); then t_pass "host finds the segmented writes"; else t_fail "host finds the segmented writes" "$err"; fi
t_expect "guest reads them back in 4 segments a request" 0 \
	"$BEYOND" run --timeout 60 --disk "file=$T_TMP/seg.img,ro" disk verify 0/262144 9
t_expect "the same on a store volume" 0 "$BEYOND" run --timeout 60 --disk "store=$S,vol=other" disk fill 0/131072 9
t_expect "read back in 4 segments" 0 "$BEYOND" run --timeout 60 --disk "store=$S,vol=other" disk verify 0/262144 9

t_expect "two disks in one VM" 0 "$BEYOND" run --disk "store=$S,vol=other" --disk "file=$T_TMP/raw,id=scratch" disk info
t_grep "both disks listed with ids" "$T_TMP/out" "disk 1: 16384 sectors.*id 'scratch'"
t_grep "volume is disk 0" "$T_TMP/out" "disk 0: 8192 sectors, block 4096, read-write, id 'other'"

t_expect "read-only disk: reads work, writes get IOERR" 0 "$BEYOND" run --disk "store=$S,vol=vol,ro" disk ro 0
t_expect "after the read-only run the volume is unchanged" 0 "$BEYOND" run --disk "store=$S,vol=vol,ro" disk verify 0 7

t_expect "bad --disk is a usage error" 2 "$BEYOND" run --disk "store=$S" disk info
t_grep "it says what is wrong" "$T_TMP/err" "give store=DIR,vol=NAME or file=PATH"
t_expect "a missing volume fails set-up" 1 "$BEYOND" run --disk "store=$S,vol=nosuch" disk info

# --stats-json: per-disk counts and latency.
t_expect "stats of a run" 0 "$BEYOND" run --stats-json "$T_TMP/stats.json" --disk "file=$T_TMP/raw" disk ops 0
if python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))["modules"]["virtio-blk"]["disk0 raw"]
assert d["write_ops"] == 1 and d["write_bytes"] == 65536, d
assert d["discard_ops"] == 1 and d["write_zeroes_ops"] == 1 and d["flush_ops"] == 1, d
assert d["read_errors"] == 2 and d["latency_p99_us"] > 0, d
' "$T_TMP/stats.json" 2>"$T_TMP/py.err"; then t_pass "stats count every kind"; else t_fail "stats count every kind" "$(tail -c 300 "$T_TMP/py.err")"; fi

# An IOPS cap: 2 s of random reads at depth 4 under iops=300 stay within the bucket (rate * (T + burst)).
t_expect "capped run" 0 "$BEYOND" run --stats-json "$T_TMP/cap.json" --disk "file=$T_TMP/raw,iops=300" \
	disk bench 8M 2000 1 0:rand:r:4096:4
ops=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["modules"]["virtio-blk"]["disk0 raw"]["read_ops"])' "$T_TMP/cap.json")
if [ "$ops" -le $((300 * 2 + 40)) ] && [ "$ops" -ge 300 ]; then t_pass "iops=300 over 2 s gave $ops reads"; else t_fail "iops cap" "$ops reads in 2 s at iops=300"; fi

# A VM's cap covers all its disks: 1 s on each of two disks under --io-iops 300 stays within one budget.
t_expect "VM-capped run over two disks" 0 "$BEYOND" run --stats-json "$T_TMP/vmcap.json" --io-iops 300 \
	--disk "file=$T_TMP/raw" --disk "store=$S,vol=other" disk bench 4M 1000 1 0:rand:r:4096:4 1:rand:r:4096:4
if python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))["modules"]["virtio-blk"]
ops = m["total"]["read_ops"]
assert 300 <= ops <= 300 * (2 + 0.05) + 8, "%d reads in 2 s at io-iops=300" % ops
assert m["vm cap"]["iops"] == 300 and m["vm cap"]["waits"] > 0, m["vm cap"]
' "$T_TMP/vmcap.json" 2>"$T_TMP/py.err"; then t_pass "a VM cap holds over its disks"; else t_fail "VM cap" "$(tail -c 300 "$T_TMP/py.err")"; fi

# A group cap ([group NAME] io-iops) is shared by its VMs: two VMs reading 2 s each stay within one
# budget (the window is 2 s plus the VMs' start skew; uncapped they do tens of thousands).
cat >"$T_TMP/group.conf" <<EOF
[group slow]
io-iops = 400
[vm a]
guest = disk
args = bench 4M 2000 1 0:rand:r:4096:4
disk = file=$T_TMP/raw
group = slow
[vm b]
guest = disk
args = bench 4M 2000 2 0:rand:r:4096:4
disk = store=$S,vol=other
group = slow
EOF
t_expect "two VMs under one group cap" 0 "$BEYOND" run --stats-json "$T_TMP/group.json" --config "$T_TMP/group.conf"
if python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
ops = [vm["modules"]["virtio-blk"]["total"]["read_ops"] for vm in d["vms"]]
assert len(ops) == 2 and min(ops) > 0 and sum(ops) <= 400 * 3, "reads %s at a group cap of 400/s over 2 s" % ops
' "$T_TMP/group.json" 2>"$T_TMP/py.err"; then t_pass "a group cap holds over its VMs"; else t_fail "group cap" "$(tail -c 300 "$T_TMP/py.err")"; fi
t_grep "the group cap is reported" "$T_TMP/group.json" '"group slow cap"'
printf '[group g]\nio-iops = lots\n[vm a]\nguest = disk\n' >"$T_TMP/bad.conf"
t_expect "a bad group cap is a usage error" 2 "$BEYOND" run --config "$T_TMP/bad.conf"
t_grep "it names the key" "$T_TMP/err" "io-iops needs a number"

# An I/O thread polls only with a CPU to spare: on one CPU it shares the vCPU's and sleeps at once.
t_expect "one CPU" 0 taskset -c 0 "$BEYOND" run --stats-json "$T_TMP/one.json" --disk "file=$T_TMP/raw" disk info
t_grep "no polling without a spare CPU" "$T_TMP/one.json" '"poll_us": 0[,}]'
if [ "$(nproc)" -ge 2 ]; then
	t_expect "two CPUs" 0 taskset -c 0,1 "$BEYOND" run --stats-json "$T_TMP/two.json" --disk "file=$T_TMP/raw" disk info
	t_grep "polling with a CPU to spare" "$T_TMP/two.json" '"poll_us": 50[,}]'
fi

# seccomp: every thread of a VM with disks runs filtered, two I/O threads per disk included.
"$BEYOND" run --timeout 30 --disk "file=$T_TMP/raw,threads=2" --disk "store=$S,vol=other" disk flushes 1 \
	>"$T_TMP/sc.out" 2>&1 &
pid=$!
for _ in $(seq 200); do grep -q "flushed 3" "$T_TMP/sc.out" && break; sleep 0.05; done
all=0 on=0
for t in /proc/$pid/task/*/status; do
	all=$((all + 1))
	grep -q '^Seccomp:[[:space:]]*2' "$t" && on=$((on + 1))
done
kill -9 "$pid"
wait "$pid" 2>/dev/null
# main, vCPU, 3 I/O threads at least
if [ "$all" -ge 5 ] && [ "$on" = "$all" ]; then t_pass "all $all threads of a VM with disks filtered"
else t_fail "seccomp on I/O threads" "$on of $all threads filtered"; fi
# Overwrites free blocks; closing the store at the end of the run punches them out of the data
# file (fallocate) from the main thread, which its filter must allow.
"$BEYOND" blk create-volume "$S" churn 4M >/dev/null
t_expect "a run that freed blocks ends cleanly under seccomp" 0 \
	"$BEYOND" run --timeout 60 --disk "store=$S,vol=churn" disk bench 4M 300 1 0:rand:w:4096:16

# kill -9 after the guest saw FLUSH complete: the flushed generation survives.
"$BEYOND" run --disk "store=$S,vol=other" disk flushes 0 >"$T_TMP/flushes" 2>&1 &
pid=$!
for _ in $(seq 200); do grep -q "flushed 5" "$T_TMP/flushes" && break; sleep 0.05; done
kill -9 "$pid"
wait "$pid" 2>/dev/null
last=$(grep -o 'flushed [0-9]*' "$T_TMP/flushes" | tail -1 | cut -d' ' -f2)
t_expect "export after kill -9" 0 "$BEYOND" blk export "$S" other "$T_TMP/other.img"
got=$(od -An -t u8 -N 8 "$T_TMP/other.img" | tr -d ' ')
if [ -n "$last" ] && [ "${got:-0}" -ge "$last" ]; then
	t_pass "flushed generation $last survived kill -9 (found $got)"
else
	t_fail "flushed generation survives kill -9" "guest saw ${last:-none} flushed, volume holds ${got:-nothing}"
fi
t_expect "the store is consistent after kill -9" 0 "$BEYOND" blk fsck "$S"

t_done
