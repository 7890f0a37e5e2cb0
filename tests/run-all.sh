#!/usr/bin/env bash
# Runs every suite and prints one summary line over all of them.
# Suites: Criterion binaries build/tests/*.crit, and shell suites tests/**/suite_*.sh
# (which use tests/harness.sh). A suite that dies without counts is one failure.
# Then the sanitizer pass (tests/sanitize.mk): the Criterion binaries of
# build/san/tests/ and every shell suite but the nested one on build/san/beyond,
# where each ASan/UBSan report is one failure more.
set -u
cd "$(dirname "$0")/.."
export BEYOND_RESULTS=$PWD/build/test-results
rm -rf "$BEYOND_RESULTS"
mkdir -p "$BEYOND_RESULTS"

# run_pass CRIT_DIR SUITES...: with BEYOND and BEYOND_RESULTS set for the pass.
run_pass() {
	local dir=$1 crit name line tested passing total suite
	shift
	mkdir -p "$BEYOND_RESULTS"
	for crit in "$dir"/*.crit; do
		[ -x "$crit" ] || continue
		name=$(basename "$crit" .crit)
		echo "== $name (criterion)"
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:detect_leaks=1} LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0 "$crit" --jobs 2 2>&1 | tee "$BEYOND_RESULTS/$name.log" | grep -E 'FAIL|Synthesis|warning|error|Sanitizer|runtime error'
		line=$(grep 'Synthesis' "$BEYOND_RESULTS/$name.log" | tail -n 1)
		tested=$(sed -n 's/.*Tested: \([0-9]*\).*/\1/p' <<<"$line")
		passing=$(sed -n 's/.*Passing: \([0-9]*\).*/\1/p' <<<"$line")
		# Criterion leaves skipped tests out of "Tested": count them from the test list.
		total=$("$crit" --list | sed -n 's/^.*: \([0-9]*\) tests\{0,1\}$/\1/p' | awk '{ n += $1 } END { print n + 0 }')
		if [ -n "$tested" ] && [ -n "$passing" ]; then
			echo "$passing $((tested - passing)) $((total - tested))" >"$BEYOND_RESULTS/$name.counts"
		fi
		[ -f "$BEYOND_RESULTS/$name.counts" ] || touch "$BEYOND_RESULTS/$name.nocounts"
	done
	for suite in "$@"; do
		echo "== $suite"
		bash "$suite"
		name=$(basename "$suite" .sh)
		[ -f "$BEYOND_RESULTS/${name#suite_}.counts" ] || touch "$BEYOND_RESULTS/${name#suite_}.nocounts"
	done
}

suites=$(find tests -name 'suite_*.sh' | sort)
run_pass build/tests $suites
if [ -x build/san/beyond ]; then
	echo "== sanitizer pass (gcc, glibc, -fsanitize=address,undefined)"
	reports=$BEYOND_RESULTS/san/reports
	mkdir -p "$reports"
	# Reports go to files, so that a report is counted even where a test
	# expects the exit status a sanitizer would give.
	# LeakSanitizer checks the Criterion suites only (run_pass turns it on for
	# them): its exit check stops the threads with ptrace, which the seccomp
	# filters of `beyond` refuse.
	ASAN_OPTIONS=log_path=$reports/asan:detect_leaks=0 \
	UBSAN_OPTIONS=log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1 \
	BEYOND=$PWD/build/san/beyond BEYOND_RESULTS=$BEYOND_RESULTS/san \
		run_pass build/san/tests $(grep -v '^tests/nested/' <<<"$suites")
fi

passed=0 failed=0 skipped=0
for f in $(find "$BEYOND_RESULTS" -name '*.counts'); do
	read -r p fl s <"$f"
	passed=$((passed + p)) failed=$((failed + fl)) skipped=$((skipped + s))
done
for f in $(find "$BEYOND_RESULTS" -name '*.nocounts'); do
	echo "suite $(basename "$f" .nocounts) left no counts"
	failed=$((failed + 1))
done
for r in $(find "$BEYOND_RESULTS/san/reports" -type f 2>/dev/null); do
	echo "sanitizer report $r:"
	head -n 40 "$r"
	failed=$((failed + 1))
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
