#!/usr/bin/env bash
# run.sh SECONDS BUILD NAME...: fuzzes each harness with afl-fuzz for SECONDS,
# from tests/fuzz/corpus/NAME (and the regressions), then copies new crashes
# into tests/fuzz/regress/NAME/ and reports executions and crashes.
set -u
cd "$(dirname "$0")/../.."
seconds=$1 build=$2
shift 2
export AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1
export ASAN_OPTIONS=abort_on_error=1:symbolize=0:detect_leaks=0
status=0
for name in "$@"; do
	out=$build/fuzz/out/$name in=$build/fuzz/in/$name
	rm -rf "$out" "$in"
	mkdir -p "$in" "$out/tmp"
	cp tests/fuzz/corpus/"$name"/* tests/fuzz/regress/"$name"/* "$in"/ 2>/dev/null
	[ -n "$(ls -A "$in")" ] || echo seed >"$in/seed"
	echo "== fuzzing $name for $seconds s"
	TMPDIR=$PWD/$out/tmp afl-fuzz -i "$in" -o "$out" -V "$seconds" -m none -t 5000 -- "$build/afl/fuzz/$name" \
		>"$out/afl.log" 2>&1
	stats=$out/default/fuzzer_stats
	[ -f "$stats" ] || { echo "$name: afl-fuzz did not run:"; tail -20 "$out/afl.log"; status=1; continue; }
	execs=$(awk -F' *: *' '$1 == "execs_done" { print $2 }' "$stats")
	speed=$(awk -F' *: *' '$1 == "execs_per_sec" { print $2 }' "$stats")
	new=0
	for c in "$out"/default/crashes/id:*; do
		[ -f "$c" ] || continue
		mkdir -p tests/fuzz/regress/"$name"
		cp "$c" tests/fuzz/regress/"$name"/"$(sha1sum "$c" | cut -c1-16)"
		new=$((new + 1))
	done
	echo "$name: $execs executions ($speed/s), $new crashes (copied to tests/fuzz/regress/$name/)"
	[ "$new" -eq 0 ] || status=1
	rm -rf "$out/tmp"
done
exit $status
