#!/usr/bin/env bash
# `beyond bench tlb`: option handling and the JSON's structure (never timings):
# every requested configuration appears, achieved or with a reason.
source "$(dirname "$0")/harness.sh"

t_expect "bench without suite is a usage error" 2 "$BEYOND" bench
t_expect "bench with an unknown name is a usage error" 2 "$BEYOND" bench nosuch
t_expect "bench --help" 0 "$BEYOND" bench --help
t_grep "bench --help lists the benchmarks" "$T_TMP/out" '^  tlb .*' && t_grep "bench --help lists blk" "$T_TMP/out" '^  blk '
t_expect "bench tlb --help" 0 "$BEYOND" bench tlb --help
for bad in "--sizes 3M" "--sizes 0" "--workload walk" "--guest-pages 8k" "--host-pages big" "--reps 0" "--cpu x" "extra"; do
	t_expect "bench tlb usage error: $bad" 2 "$BEYOND" bench tlb $bad
done

if ! have_kvm; then
	t_skip "bench tlb runs" "/dev/kvm is not usable here"
	t_done
	exit
fi

# check_json NAME FILE WORKLOADS GUEST_PAGES HOST_PAGES SIZES NATIVE(0|1)
check_json() {
	if python3 - "$@" >"$T_TMP/check" 2>&1 <<'PY'; then t_pass "$1"; else t_fail "$1" "$(tail -c 600 "$T_TMP/check")"; fi
import json, sys
_, name, path, workloads, gps, hps, sizes, native = sys.argv
recs = json.load(open(path))
want = set()
for w in workloads.split(','):
    for s in map(int, sizes.split(',')):
        for hp in hps.split(','):
            if native == '1':
                want.add(('native', w, 'none', hp, s))
            for gp in gps.split(','):
                want.add(('guest', w, gp, hp, s))
keys = {'mode': str, 'workload': str, 'guest_pages': str, 'host_pages': str, 'working_set': int,
        'achieved': bool, 'huge_share': (int, float), 'mmu': str, 'reason': str, 'samples': list}
got = set()
for r in recs:
    for k, t in keys.items():
        assert isinstance(r.get(k), t), f"record {r} lacks {k} of type {t}"
    for k in ('ns_per_access_median', 'ns_per_access_min', 'ns_per_access_max'):
        assert k in r, f"{k} missing"
    assert r['mmu'] in ('shadow', 'npt', 'ept'), r['mmu']
    if r['achieved']:
        assert 0 < r['ns_per_access_min'] <= r['ns_per_access_median'] <= r['ns_per_access_max'], r
        assert len(r['samples']) == r['reps'], r
        assert 0 <= r['huge_share'] <= 1
        if r['host_pages'] != '4k':
            assert r['huge_share'] >= 0.95, r
    else:
        assert r['reason'], f"not achieved without a reason: {r}"
        assert r['ns_per_access_median'] is None, r
    got.add((r['mode'], r['workload'], r['guest_pages'], r['host_pages'], r['working_set']))
assert len(got) == len(recs), "duplicate records"
assert got == want, f"missing {sorted(want - got)[:5]}, unexpected {sorted(got - want)[:5]}"
print(len(recs), "records")
PY
}

json=$T_TMP/quick.json
t_expect "bench tlb --quick, small sizes" 0 "$BEYOND" bench tlb --quick --sizes 2M,4M --reps 2 --json "$json"
t_grep "bench tlb prints the MMU mode" "$T_TMP/out" '^mmu: (shadow|npt|ept)$'
check_json "full matrix: every configuration appears" "$json" chase,gups,stream 4k,2m,1g 4k,thp,hugetlb2m,hugetlb1g 2097152,4194304 1
t_grep "guest 4k/host 4k achieved" "$T_TMP/out" 'guest 4k / host 4k +[0-9]'
t_grep "guest 2m/host thp achieved" "$T_TMP/out" 'guest 2m / host thp +[0-9]'
t_grep "page-table memory is reported" "$T_TMP/out" 'guest tables per GiB mapped: 4k 2052 KiB, 2m 4 KiB'
for f in svg png dat; do
	if [ -s "${json%.json}.$f" ]; then t_pass "plot $f written"; else t_fail "plot $f written" "no ${json%.json}.$f"; fi
done
t_expect "bench tlb subset" 0 "$BEYOND" bench tlb --workload gups --guest-pages 2m --host-pages 4k,thp --no-native \
	--sizes 2M --reps 1 --json "$T_TMP/sub.json"
check_json "subset: exactly the requested configurations" "$T_TMP/sub.json" gups 2m 4k,thp 2097152 0
# One working set: gnuplot must neither warn (an empty x range) nor print into the output.
t_grep "subset plotted" "$T_TMP/out" '^plot: .*sub\.svg .*sub\.png$'
if grep -qi 'warning\|gnuplot' "$T_TMP/out" "$T_TMP/err"; then
	t_fail "gnuplot says nothing into the output" "$(grep -hi 'warning\|gnuplot' "$T_TMP/out" "$T_TMP/err" | head -3)"
else
	t_pass "gnuplot says nothing into the output"
fi
mkdir -p "$T_TMP/cwd"
t_expect "bench tlb without --json" 0 env -C "$T_TMP/cwd" "$BEYOND" bench tlb --workload stream --guest-pages 2m \
	--host-pages 4k --no-native --sizes 1M --reps 1
for f in json dat svg png; do
	if [ -s "$T_TMP/cwd/results/tlb-$(date +%F).$f" ]; then t_pass "default result $f in results/tlb-DATE"
	else t_fail "default result $f in results/tlb-DATE" "$(ls -R "$T_TMP/cwd" | tr '\n' ' ')"; fi
done
t_expect "bench tlb to an unwritable JSON path fails" 1 "$BEYOND" bench tlb --workload stream --guest-pages 2m \
	--host-pages 4k --no-native --sizes 1M --reps 1 --json /proc/nonexistent/x.json
t_done
