# Shell test harness, sourced by every tests/**/suite_*.sh.
#   t_pass NAME | t_fail NAME WHY | t_skip NAME WHY   record one result
#   t_expect NAME WANT_STATUS CMD...   run CMD, pass if its exit status is WANT_STATUS
#   have_kvm                           true if /dev/kvm is usable (else say why, loudly)
#   t_done                             write this suite's counts and its summary line
# Counts go to $BEYOND_RESULTS/<suite>.counts for tests/run-all.sh to add up.
set -u
T_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
T_SUITE=$(basename "$0" .sh)
T_SUITE=${T_SUITE#suite_}
BEYOND=${BEYOND:-$T_ROOT/build/beyond}
BEYOND_RESULTS=${BEYOND_RESULTS:-$T_ROOT/build/test-results}
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/beyond-$T_SUITE.XXXXXX")
trap 'rm -rf "$T_TMP"' EXIT
mkdir -p "$BEYOND_RESULTS"
t_passed=0 t_failed=0 t_skipped=0

t_pass() { t_passed=$((t_passed + 1)); printf '  PASS  %s\n' "$1"; }
t_fail() { t_failed=$((t_failed + 1)); printf '  FAIL  %s: %s\n' "$1" "${2:-}"; }
t_skip() { t_skipped=$((t_skipped + 1)); printf '  SKIP  %s: %s\n' "$1" "${2:-}"; }

# t_expect NAME WANT CMD...: stdout/stderr of CMD land in $T_TMP/out and $T_TMP/err.
t_expect() {
	local name=$1 want=$2 got
	shift 2
	"$@" >"$T_TMP/out" 2>"$T_TMP/err"
	got=$?
	if [ "$got" -eq "$want" ]; then
		t_pass "$name"
	else
		t_fail "$name" "exit $got, wanted $want; stderr: $(tail -c 300 "$T_TMP/err")"
		return 1
	fi
}

# t_grep NAME FILE REGEX: pass if FILE matches REGEX.
t_grep() {
	if grep -Eq -- "$3" "$2"; then t_pass "$1"; else t_fail "$1" "no /$3/ in: $(tail -c 300 "$2")"; fi
}

have_kvm() {
	if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then return 0; fi
	echo "!!! SKIPPING KVM TESTS: /dev/kvm is missing or not accessible to $(id -un) !!!" >&2
	return 1
}

t_done() {
	printf '%s %s %s\n' "$t_passed" "$t_failed" "$t_skipped" >"$BEYOND_RESULTS/$T_SUITE.counts"
	printf '%s: %d passed, %d failed, %d skipped\n' "$T_SUITE" "$t_passed" "$t_failed" "$t_skipped"
	[ "$t_failed" -eq 0 ]
}
