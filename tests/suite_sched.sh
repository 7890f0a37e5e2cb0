#!/usr/bin/env bash
# The scheduler from the command line: --config (and its errors), policies, PV
# wait/kick with hostile guests, several VMs isolated from each other, --control
# with beyond stat. Every run is short (well under a second of guest time).
source "$(dirname "$0")/harness.sh"
TG=$T_ROOT/build/tests/guests
CONF=$T_ROOT/tests/configs/example.conf

conf() { printf "$@" >"$T_TMP/c.conf"; }
bad_conf() { # NAME REGEX: the config in $T_TMP/c.conf is refused with a line-numbered reason
	t_expect "config: $1 refused" 2 "$BEYOND" run --config "$T_TMP/c.conf" && t_grep "config: $1 names the line" "$T_TMP/err" "$2"
}
conf '[vm a]\nguest = hello\nmem = lots\n'; bad_conf "bad value" 'c.conf:3: bad --mem'
conf '[vm a]\nguest = hello\nfrobnicate = 1\n'; bad_conf "unknown key" 'c.conf:3: .frobnicate. is not a per-VM option'
conf '[vm a]\nguest = hello\nstats\n'; bad_conf "run-wide option in a VM" 'c.conf:3: .stats. is not a per-VM option'
conf '[vm a]\nguest = hello\nprefault = yes\n'; bad_conf "flag with a value" 'c.conf:3: prefault is a flag'
conf '[vm a]\nguest = hello\nvcpus\n'; bad_conf "option without value" 'c.conf:3: vcpus needs a value'
conf '[vm a]\nmem = 64M\n'; bad_conf "no guest" 'c.conf:1: vm a has no guest'
conf '[vm a]\nguest = no-such-guest\n'; bad_conf "unknown guest" 'c.conf:2: no guest'
conf '[vm a]\nguest = hello\n[vm a]\nguest = hello\n'; bad_conf "duplicate VM" 'c.conf:3: vm a is already defined on line 1'
conf '[group g]\nweight = 2\n[vm a]\nguest = hello\n'; bad_conf "bad group key" "c.conf:2: a group has shares"
conf '[group g]\ncap = 2\n[vm a]\nguest = hello\n'; bad_conf "bad group cap" "c.conf:2: bad cap"
conf '[vm a]\nguest = hello\ncap = 150%%\n'; bad_conf "bad cap" 'c.conf:3: bad --cap'
conf '# nothing\n'; bad_conf "no VM" 'no \[vm NAME\] section'
conf 'guest = hello\n'; bad_conf "key before a section" 'c.conf:1:'
printf '[vm a]\nguest = hello\x00\n' >"$T_TMP/c.conf"; bad_conf "NUL byte" 'c.conf:2: a NUL byte'
conf '[run]\nsched = fifo\n[vm a]\nguest = hello\n'; bad_conf "bad [run] value" "c.conf:2: bad --sched 'fifo'"
conf '[run]\nmem = 1G\n[vm a]\nguest = hello\n'; bad_conf "per-VM key in [run]" "c.conf:2: 'mem' is not a run-wide option"
conf '[run]\nconfig = x.conf\n[vm a]\nguest = hello\n'; bad_conf "config in [run]" "c.conf:2: 'config' is not a run-wide option"
conf '[run]\nslice\n[vm a]\nguest = hello\n'; bad_conf "[run] option without value" 'c.conf:2: slice needs a value'
conf '[run]\ncpus = 1-0\n[vm a]\nguest = hello\n'; bad_conf "bad [run] cpus" 'c.conf:2: bad CPU range'
conf '[run]\nrt\n[vm a]\nguest = hello\n'
t_expect "config: rt without gang refused" 2 "$BEYOND" run --config "$T_TMP/c.conf" && t_grep "rt without gang says why" "$T_TMP/err" 'rt needs --sched gang'
t_expect "usage error: run --rt without gang" 2 "$BEYOND" run --rt hello
t_expect "config: missing file" 2 "$BEYOND" run --config "$T_TMP/none.conf"
t_expect "config and GUEST together" 2 "$BEYOND" run --config "$CONF" hello
for bad in "--sched fifo" "--slice 0" "--slice 5parsecs" "--cpus 99999" "--cpus 1-0" "--cpus ''" "--shares 0" "--cap 2" "--reserve -1"; do
	t_expect "usage error: run $bad" 2 "$BEYOND" run $bad hello
done

if ! have_kvm; then
	t_skip "all KVM tests" "/dev/kvm is not usable here"
	t_done
	exit
fi
ncpus=$(nproc)

for p in os gang relaxed; do
	t_expect "example config under $p" 0 "$BEYOND" run --sched $p --slice 2ms --config "$CONF" &&
		t_grep "example under $p: console lines carry the VM's name" "$T_TMP/out" '^gamma: Hello from beyond.*args: from the config file'
done
# [run] sets the scheduler; the command line wins over it.
conf "[run]\nsched = gang\nslice = 3ms\n[vm a]\nguest = hello\nvcpus = $((ncpus + 1))\n"
t_expect "config [run] sets the policy" 1 "$BEYOND" run --config "$T_TMP/c.conf" && t_grep "[run]: gang refused the wide VM" "$T_TMP/err" 'cannot be gang-scheduled'
t_expect "command line wins over [run]" 0 "$BEYOND" run --sched os --config "$T_TMP/c.conf"
if [ "$(id -u)" = 0 ]; then
	conf "[run]\nsched = gang\nrt\n[vm a]\nguest = sched\nargs = lock pv 200\nvcpus = 2\nmem = 64M\n"
	t_expect "gang with real-time vCPU threads" 0 "$BEYOND" run --config "$T_TMP/c.conf"
else
	t_skip "gang with real-time vCPU threads" "--rt needs root (SCHED_FIFO)"
fi
t_expect "gang refuses a VM wider than its CPUs" 1 "$BEYOND" run --sched gang --vcpus $((ncpus + 1)) hello &&
	t_grep "gang says why" "$T_TMP/err" 'cannot be gang-scheduled'
conf '[vm a]\nguest = hello\ngroup = nosuch\n'
t_expect "unknown group" 1 "$BEYOND" run --config "$T_TMP/c.conf" && t_grep "unknown group named" "$T_TMP/err" "no scheduler group 'nosuch'"

# --- PV wait/kick, and guests that misuse them ------------------------------------
for p in os gang; do
	t_expect "pv ping-pong under $p" 0 "$BEYOND" run --sched $p --vcpus 2 --timeout 20 "$TG/pvhostile.elf" pingpong
done
t_expect "kick of a vCPU the VM lacks ends it" 125 "$BEYOND" run --vcpus 2 "$TG/pvhostile.elf" kick-invalid &&
	t_grep "kick-invalid: reason" "$T_TMP/err" 'kick of vCPU 63, the VM has 2'
t_expect "yield to a vCPU the VM lacks ends it" 125 "$BEYOND" run --vcpus 2 "$TG/pvhostile.elf" yield-invalid &&
	t_grep "yield-invalid: reason" "$T_TMP/err" 'yield to of vCPU 2, the VM has 2'
t_expect "waiting forever ends at --timeout" 125 "$BEYOND" run --sched gang --vcpus 2 --timeout 0.5 "$TG/pvhostile.elf" wait-forever &&
	t_grep "wait-forever: reason" "$T_TMP/err" 'timeout after 0.5 s'

# A hostile VM next to a good one: it ends alone, the run names it, the other finishes.
for p in os gang; do
	conf "[vm bad]\nguest = $TG/pvhostile.elf\nargs = kick-invalid\nvcpus = 2\nmem = 64M\n[vm good]\nguest = sched\nargs = lock pv 300\nvcpus = 2\nmem = 64M\n"
	t_expect "hostile VM next to a good one under $p" 125 "$BEYOND" run --sched $p --stats --config "$T_TMP/c.conf" &&
		t_grep "$p: the run names the hostile VM" "$T_TMP/err" 'VM bad ended first with status 125' &&
		t_grep "$p: the hostile VM's reason" "$T_TMP/err" 'guest bad: bad hypercall.*kick of vCPU 63'
	if grep -q 'guest good:' "$T_TMP/err"; then t_fail "$p: the good VM is untouched" "$(cat "$T_TMP/err")"; else t_pass "$p: the good VM is untouched"; fi
done

# --- accounting ----------------------------------------------------------------------
conf "[vm a]\nguest = sched\nargs = independent ticket 300\nvcpus = 2\nmem = 64M\ncap = 0.25\n[vm b]\nguest = sched\nargs = independent ticket 300\nvcpus = 2\nmem = 64M\n"
for p in os gang; do
	t_expect "capped VM under $p" 0 "$BEYOND" run --sched $p --stats-json "$T_TMP/s.json" --config "$T_TMP/c.conf"
	if python3 - "$T_TMP/s.json" "$ncpus" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); n = int(sys.argv[2])
vms = {v["vm"]: v["modules"]["sched"] for v in d["vms"]}
a, b = vms["a"], vms["b"]
assert a["settings"]["cap"] == 0.25, a
# The cap allows 0.25 * n CPU-seconds per second the VM ran (cpu + steal + wait of its
# longest-lived vCPU), plus a 100 ms period's slack; measured, so a loaded host cannot fail it.
wall = max(a[k]["cpu_ns"] + a[k]["steal_ns"] + a[k]["wait_ns"] for k in a if k.startswith("vcpu"))
assert a["cpu_ns"] <= 0.25 * n * (wall + 0.1e9), ("over the cap", a["cpu_ns"], wall)
assert a["slices"] > 0 and b["cpu_ns"] > 0 and all(k in a["vcpu0"] for k in ("steal_ns", "wait_ns", "kicks", "waits", "yields"))
PY
	then t_pass "$p: cap holds in the accounting"; else t_fail "$p: cap holds in the accounting" "$(head -c 600 "$T_TMP/s.json")"; fi
done

# Steal is time runnable but not running: a vCPU blocked in a WAIT that has not ended yet
# and a parked vCPU (pvhostile's vCPU 1) are not runnable.
for p in os gang; do
	t_expect "waiting and parked vCPUs under $p" 125 "$BEYOND" run --sched $p --vcpus 2 --timeout 0.5 --stats-json "$T_TMP/s.json" "$TG/pvhostile.elf" wait-forever
	if python3 - "$T_TMP/s.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))["modules"]["sched"]
w, p = s["vcpu0"], s["vcpu1"]
assert w["wait_ns"] > 0.3e9, ("the endless wait is counted as waiting", w)
assert w["steal_ns"] < 0.1e9 and p["steal_ns"] < 0.1e9, ("no steal while waiting or parked", w, p)
PY
	then t_pass "$p: no steal while waiting or parked"; else t_fail "$p: no steal while waiting or parked" "$(head -c 600 "$T_TMP/s.json")"; fi
done

# --- a running monitor answers beyond stat on its control socket ----------------------
sock=$T_TMP/ctl.sock
"$BEYOND" run --control "$sock" --vcpus 2 --timeout 3 "$TG/pvhostile.elf" wait-forever >/dev/null 2>&1 &
pid=$!
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.05; done
if [ "$(stat -c %a "$sock" 2>/dev/null)" = 600 ]; then t_pass "control socket is owner-only"; else t_fail "control socket is owner-only" "mode $(stat -c %a "$sock" 2>&1)"; fi
t_expect "beyond stat" 0 "$BEYOND" stat "$sock" && t_grep "beyond stat shows waits" "$T_TMP/out" 'waits: [1-9]'
t_expect "beyond stat --json" 0 "$BEYOND" stat "$sock" --json &&
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["vms"][0]["modules"]["sched"]["vcpu0"]["waits"] >= 1' "$T_TMP/out" &&
	t_pass "beyond stat --json is JSON" || t_fail "beyond stat --json is JSON" "$(head -c 300 "$T_TMP/out")"
t_expect "a second monitor on the same control socket is refused" 1 \
	"$BEYOND" run --control "$sock" --timeout 3 hello
t_grep "... saying why" "$T_TMP/err" 'remove it if no monitor uses it'
t_expect "the first monitor still answers" 0 "$BEYOND" stat "$sock"
ls "$T_TMP" | grep -q 'ctl\.sock\.' && t_fail "no temporary socket left" "$(ls "$T_TMP")" || t_pass "no temporary socket left"
wait $pid
[ -e "$sock" ] && t_fail "control socket removed at the end" "$sock" || t_pass "control socket removed at the end"
t_expect "beyond stat without a monitor" 1 "$BEYOND" stat "$sock"
t_expect "beyond stat usage" 2 "$BEYOND" stat

# The gang invariant seen from inside (reported; the machine's other load decides how clean it is).
conf "[vm a]\nguest = $TG/gangcheck.elf\nargs = 300 100\nvcpus = 2\nmem = 64M\n[vm b]\nguest = $TG/gangcheck.elf\nargs = 300 100\nvcpus = 2\nmem = 64M\n"
t_expect "gangcheck runs under gang" 0 "$BEYOND" run --sched gang --slice 2ms --config "$T_TMP/c.conf" && sed 's/^/    /' "$T_TMP/out"

t_done
