#!/usr/bin/env bash
# Runs every suite and prints one summary line over all of them.
# Suites: Criterion binaries build/tests/*.crit, and shell suites tests/**/suite_*.sh
# (which use tests/harness.sh). A suite that dies without counts is one failure.
set -u
cd "$(dirname "$0")/.."
export BEYOND_RESULTS=$PWD/build/test-results
rm -rf "$BEYOND_RESULTS"
mkdir -p "$BEYOND_RESULTS"

for crit in build/tests/*.crit; do
	[ -x "$crit" ] || continue
	name=$(basename "$crit" .crit)
	echo "== $name (criterion)"
	"$crit" --jobs 2 2>&1 | tee "$BEYOND_RESULTS/$name.log" | grep -E 'FAIL|Synthesis|warning|error' 
	line=$(grep 'Synthesis' "$BEYOND_RESULTS/$name.log" | tail -n 1)
	tested=$(sed -n 's/.*Tested: \([0-9]*\).*/\1/p' <<<"$line")
	passing=$(sed -n 's/.*Passing: \([0-9]*\).*/\1/p' <<<"$line")
	# Criterion leaves skipped tests out of "Tested": count them from the test list.
	total=$("$crit" --list | sed -n 's/^.*: \([0-9]*\) tests\{0,1\}$/\1/p' | awk '{ n += $1 } END { print n + 0 }')
	if [ -n "$tested" ] && [ -n "$passing" ]; then
		echo "$passing $((tested - passing)) $((total - tested))" >"$BEYOND_RESULTS/$name.counts"
	fi
done

for suite in $(find tests -name 'suite_*.sh' | sort); do
	echo "== $suite"
	bash "$suite"
done

passed=0 failed=0 skipped=0
for crit in build/tests/*.crit; do
	[ -x "$crit" ] || continue
	[ -f "$BEYOND_RESULTS/$(basename "$crit" .crit).counts" ] || { echo "suite $crit left no counts"; failed=$((failed + 1)); }
done
for suite in $(find tests -name 'suite_*.sh'); do
	n=$(basename "$suite" .sh); n=${n#suite_}
	[ -f "$BEYOND_RESULTS/$n.counts" ] || { echo "suite $suite left no counts"; failed=$((failed + 1)); }
done
for f in "$BEYOND_RESULTS"/*.counts; do
	[ -f "$f" ] || continue
	read -r p fl s <"$f"
	passed=$((passed + p)) failed=$((failed + fl)) skipped=$((skipped + s))
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
