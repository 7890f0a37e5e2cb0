#!/usr/bin/env bash
# Replays each fuzz harness's corpus and regressions (tests/fuzz/corpus/NAME,
# tests/fuzz/regress/NAME) through the replay build next to $BEYOND
# (build/fuzz/replay/NAME, or build/san/fuzz/replay/NAME in the sanitizer pass).
source "$(dirname "$0")/../harness.sh"

bin=$(dirname "$BEYOND")/fuzz/replay
for src in "$T_ROOT"/tests/fuzz/*.c; do
	name=$(basename "$src" .c)
	dirs=()
	for d in corpus regress; do
		[ -d "$T_ROOT/tests/fuzz/$d/$name" ] && dirs+=("$T_ROOT/tests/fuzz/$d/$name")
	done
	if [ ! -x "$bin/$name" ]; then
		t_fail "$name replay" "$bin/$name is not built"
	elif [ ${#dirs[@]} -eq 0 ]; then
		t_fail "$name replay" "no inputs in tests/fuzz/corpus/$name"
	elif TMPDIR=$T_TMP "$bin/$name" "${dirs[@]}" >"$T_TMP/out" 2>"$T_TMP/err"; then
		t_pass "$name: $(cat "$T_TMP/out")"
	else
		culprit=unknown
		for f in $(find "${dirs[@]}" -type f | sort); do
			TMPDIR=$T_TMP "$bin/$name" "$f" >/dev/null 2>&1 || { culprit=$f; break; }
		done
		t_fail "$name replay" "input $culprit: $(grep -v '^beyond blk:' "$T_TMP/err" | tail -c 600)"
	fi
done
t_done
