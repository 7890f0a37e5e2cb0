#!/usr/bin/env bash
# `beyond blk` command line: round trips, snapshots, clones, stat, dedup,
# fsck, and clear errors that lose nothing (bad input, corruption, full disk).
source "$(dirname "$0")/../harness.sh"

S=$T_TMP/store
img=$T_TMP/img
# 8 MiB random, 4 MiB of zeros, the same 8 MiB again: half of the data is duplicate.
head -c 8M /dev/urandom >"$T_TMP/r8"
{ cat "$T_TMP/r8"; head -c 4M /dev/zero; cat "$T_TMP/r8"; } >"$img"

t_expect "create" 0 "$BEYOND" blk create "$S"
t_expect "create again refuses" 1 "$BEYOND" blk create "$S"
t_grep "create again says why" "$T_TMP/err" "already a store"
t_expect "bad block size" 1 "$BEYOND" blk create "$T_TMP/s2" --block-size 3000
t_grep "bad block size says why" "$T_TMP/err" "power of two"
t_expect "missing store" 1 "$BEYOND" blk list "$T_TMP/nope"
t_grep "missing store says why" "$T_TMP/err" "no store"
t_expect "unknown command" 2 "$BEYOND" blk frobnicate "$S"

t_expect "import" 0 "$BEYOND" blk import "$S" vm1 "$img"
t_expect "export" 0 "$BEYOND" blk export "$S" vm1 "$T_TMP/exp1"
t_expect "export equals import" 0 cmp "$img" "$T_TMP/exp1"
t_expect "import of a missing file" 1 "$BEYOND" blk import "$S" vm2 "$T_TMP/missing"
t_expect "bad volume name" 1 "$BEYOND" blk create-volume "$S" "a/b" 1M
t_grep "bad name says why" "$T_TMP/err" "bad name"
t_expect "stat --json" 0 "$BEYOND" blk stat "$S" --json
t_grep "dedup ratio is 2 (duplicate half, zeros not stored)" "$T_TMP/out" '"dedup_ratio": 2\.000'
t_grep "unique bytes are 8 MiB" "$T_TMP/out" '"unique_bytes": 8388608,'
t_grep "index bytes per block reported" "$T_TMP/out" '"index_bytes_per_unique_block": [0-9]'

# A sparse 4 GiB disk with 1 MiB of new data: P2V of a mostly empty disk.
truncate -s 4G "$T_TMP/sparse"
head -c 1M /dev/urandom | dd of="$T_TMP/sparse" bs=1M seek=3000 conv=notrunc status=none
t_expect "import sparse 4 GiB" 0 timeout 60 "$BEYOND" blk import "$S" big "$T_TMP/sparse"
t_expect "create-volume" 0 "$BEYOND" blk create-volume "$S" empty 1G

t_expect "snapshot" 0 "$BEYOND" blk snapshot "$S" vm1 snap1
t_expect "clone" 0 "$BEYOND" blk clone "$S" snap1 vm1b
t_expect "list" 0 "$BEYOND" blk list "$S"
t_grep "list shows the snapshot" "$T_TMP/out" "^snap1 +snapshot"
t_grep "list shows the clone" "$T_TMP/out" "^vm1b +volume"
t_expect "clone exports the same data" 0 "$BEYOND" blk export "$S" vm1b "$T_TMP/exp2"
t_expect "clone data equal" 0 cmp "$img" "$T_TMP/exp2"
t_expect "stat after clone" 0 "$BEYOND" blk stat "$S" --json
t_grep "clone shares every block" "$T_TMP/out" '"unique_bytes": 9437184,'
t_expect "rm volume" 0 "$BEYOND" blk rm "$S" vm1
t_expect "rm missing" 1 "$BEYOND" blk rm "$S" vm1
t_expect "snapshot still exports after rm of its volume" 0 "$BEYOND" blk export "$S" snap1 "$T_TMP/exp3"
t_expect "snapshot data equal" 0 cmp "$img" "$T_TMP/exp3"
t_expect "fsck clean" 0 "$BEYOND" blk fsck "$S"

# Background dedup: duplicates are stored until `blk dedup` merges them.
B=$T_TMP/bg
t_expect "create background store" 0 "$BEYOND" blk create "$B" --dedup background
t_expect "import a" 0 "$BEYOND" blk import "$B" a "$img"
t_expect "import b" 0 "$BEYOND" blk import "$B" b "$img"
t_expect "dedup" 0 "$BEYOND" blk dedup "$B"
t_grep "dedup reports bytes saved" "$T_TMP/out" "merged 6144 duplicate blocks, 25165824 bytes saved"
t_expect "export after dedup" 0 "$BEYOND" blk export "$B" b "$T_TMP/exp4"
t_expect "data intact after dedup" 0 cmp "$img" "$T_TMP/exp4"

# Corrupt a data block: reads fail with a clear error, fsck finds it.
C=$T_TMP/corrupt
"$BEYOND" blk create "$C" >/dev/null && "$BEYOND" blk import "$C" v "$T_TMP/r8" >/dev/null
# Where block 4 landed is the allocator's choice: find its bytes.
at=$(python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); b=open(sys.argv[2],"rb").read()[16384:20480]; print(d.find(b))' "$C/data" "$T_TMP/r8")
printf 'X' | dd of="$C/data" bs=1 seek=$((at + 17)) conv=notrunc status=none
t_expect "export of corrupt data fails" 1 "$BEYOND" blk export "$C" v "$T_TMP/exp5"
t_grep "corruption is named" "$T_TMP/err" "corrupt"
# Data block 5 holds volume block 4 (slot 0 stands for zeros): only it is lost.
t_grep "the unreadable block is named" "$T_TMP/err" "bytes 16384-20479 \(block 4\) are zeros"
t_grep "the export says what it left out" "$T_TMP/err" "except 1 unreadable block"
{ head -c 16384 "$T_TMP/r8"; head -c 4096 /dev/zero; tail -c +20481 "$T_TMP/r8"; } >"$T_TMP/r8-salvaged"
t_expect "every other block is salvaged" 0 cmp "$T_TMP/r8-salvaged" "$T_TMP/exp5"
t_expect "fsck finds the corrupt block" 1 "$BEYOND" blk fsck "$C"
t_grep "fsck counts it" "$T_TMP/out" "1 corrupt"

# A flipped bit in one metadata copy: the other one serves, nothing is lost.
M=$T_TMP/m
"$BEYOND" blk create "$M" >/dev/null && "$BEYOND" blk import "$M" v "$T_TMP/r8" >/dev/null
newest=$(ls -t "$M"/meta0 "$M"/meta1 | head -1)
printf 'X' | dd of="$newest" bs=1 seek=50 conv=notrunc status=none
t_expect "one damaged metadata copy: export works" 0 "$BEYOND" blk export "$M" v "$T_TMP/exp7"
t_grep "the damaged copy is named" "$T_TMP/err" "metadata copy meta[01] does not verify"
t_expect "one damaged metadata copy: data equal" 0 cmp "$T_TMP/r8" "$T_TMP/exp7"
t_expect "fsck reports the damaged copy" 1 "$BEYOND" blk fsck "$M"
t_grep "fsck counts it" "$T_TMP/out" "1 damaged metadata copies"
t_expect "fsck --repair rewrites it" 0 "$BEYOND" blk fsck "$M" --repair
t_expect "fsck clean after the repair" 0 "$BEYOND" blk fsck "$M"
# Both copies damaged: refuse to open, change nothing.
printf 'X' | dd of="$M/meta0" bs=1 seek=50 conv=notrunc status=none
printf 'X' | dd of="$M/meta1" bs=1 seek=50 conv=notrunc status=none
sum=$(cat "$M"/* | md5sum)
t_expect "corrupt metadata refused" 1 "$BEYOND" blk list "$M"
t_grep "corrupt metadata named" "$T_TMP/err" "metadata is corrupt"
t_expect "corrupt metadata refused for writing" 1 "$BEYOND" blk create-volume "$M" w 1M
if [ "$sum" = "$(cat "$M"/* | md5sum)" ]; then t_pass "corrupt store left unchanged"; else t_fail "corrupt store left unchanged" "files changed"; fi

# JSON: a store path with a quote, a backslash and a control character.
W=$T_TMP/$'we"ird\\dir\x01'
t_expect "create at an odd path" 0 "$BEYOND" blk create "$W"
t_expect "stat --json at an odd path" 0 "$BEYOND" blk stat "$W" --json
cp "$T_TMP/out" "$T_TMP/stat.json"
t_expect "stat --json is valid JSON naming the store" 0 python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(0 if d["store"] == sys.argv[2] and d["volumes"] == [] else 1)' "$T_TMP/stat.json" "$W"

# Full disk: a store on a small tmpfs; the failed import loses nothing else.
F=$T_TMP/full
mkdir -p "$F"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=6m tmpfs "$F" 2>/dev/null; then
	"$BEYOND" blk create "$F/s" >/dev/null
	head -c 1M /dev/urandom >"$T_TMP/r1"
	t_expect "small import fits" 0 "$BEYOND" blk import "$F/s" small "$T_TMP/r1"
	t_expect "import larger than the disk fails" 1 "$BEYOND" blk import "$F/s" huge "$T_TMP/r8"
	t_grep "full disk is named" "$T_TMP/err" "No space|disk full|full"
	t_expect "store opens after the full disk" 0 "$BEYOND" blk list "$F/s"
	if grep -q "^huge " "$T_TMP/out"; then t_fail "partial volume removed" "huge still listed"; else t_pass "partial volume removed"; fi
	t_expect "earlier volume intact" 0 "$BEYOND" blk export "$F/s" small "$T_TMP/exp6"
	t_expect "earlier data equal" 0 cmp "$T_TMP/r1" "$T_TMP/exp6"
	t_expect "fsck after full disk" 0 "$BEYOND" blk fsck "$F/s" --repair
	umount "$F"
else
	t_skip "full disk" "needs root to mount a small tmpfs"
fi
t_done
