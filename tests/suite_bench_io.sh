#!/usr/bin/env bash
# `beyond bench io`: options and the JSON's structure (never timings): every
# pattern for both targets, each configuration achieved or with a reason.
source "$(dirname "$0")/harness.sh"

t_expect "bench io --help" 0 "$BEYOND" bench io --help
for bad in "--reps 0" "--seconds 0" "--cpu x" "extra"; do
	t_expect "bench io usage error: $bad" 2 "$BEYOND" bench io $bad
done
if ! have_kvm; then
	t_skip "bench io runs" "/dev/kvm is not usable here"
	t_done
	exit
fi
t_expect "bench io --quick" 0 "$BEYOND" bench io --quick --dir "$T_TMP" --json "$T_TMP/io.json"
if python3 - "$T_TMP/io.json" >"$T_TMP/check" 2>&1 <<'PY'; then t_pass "JSON has every pattern, checks, caps and notifications"; else t_fail "JSON structure" "$(tail -c 600 "$T_TMP/check")"; fi
import json, sys
d = json.load(open(sys.argv[1]))
rows = {(r["target"], r["pattern"]) for r in d["results"]}
assert len(rows) == 12, rows
for r in d["results"]:
    assert r["host_mbs"] > 0 and r["guest_mbs"] > 0 and r["ratio"] > 0, r
for c in d["checks"]:
    assert c["achieved"], c
assert len(d["caps"]) == 3 and all(c["got"] > 0 for c in d["caps"]), d["caps"]
n = d["notify"]
assert [x["ioeventfd_asked"] for x in n] == [False, True] and not n[0]["ioeventfd"], n
assert n[0]["achieved"] and all(x["ns_per_notify"] > 0 for x in n), n
PY
t_grep "a table" "$T_TMP/out" "rand 4K read d16"
if ls "$T_TMP"/beyond-bench-io.* >/dev/null 2>&1; then t_fail "scratch removed" "$(ls -d "$T_TMP"/beyond-bench-io.*)"; else t_pass "scratch removed"; fi
t_done
