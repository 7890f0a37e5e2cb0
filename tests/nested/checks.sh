# In-guest checks for one kvm_amd mode (POSIX sh, sourced after report.sh):
#   run_checks LABEL [MMU]   (LABEL npt or shadow; MMU defaults to LABEL)
# Drives the static beyond binary through every built-in guest, the hostile
# guests and the TLB benchmark's MMU detection. Timings are never checked:
# under TCG they mean nothing.
B=${BEYOND_BIN:-/bin/beyond}
O=${TMPDIR:-/tmp}/out E=${TMPDIR:-/tmp}/err
# Guard against a hung monitor; a kill shows as status 137/143.
RUN_LIMIT=90

# brun ARGS...: run beyond, stdout/stderr in $O/$E, status in $st.
brun() {
	timeout -s TERM -k 5 $RUN_LIMIT $B "$@" >$O 2>$E
	st=$?
}
why() { echo "exit $st; stderr: $(tail -c 200 $E); stdout: $(tail -c 120 $O)"; }

# check_ok NAME ARGS...: expects exit 0.
check_ok() {
	name=$1; shift
	brun "$@"
	if [ $st -eq 0 ]; then r_pass "$name"; else r_fail "$name" "beyond $*: $(why)"; fi
}

# check_abnormal NAME WORD ARGS...: expects status 125 and WORD on stderr.
check_abnormal() {
	name=$1 word=$2; shift 2
	brun "$@"
	if [ $st -eq 125 ] && grep -qi "$word" $E; then
		r_pass "$name"
	else
		r_fail "$name" "beyond $*: wanted 125 and '$word' on stderr; $(why)"
	fi
}

# check_guest MODE GUEST VCPUS GPAGES HPAGES: a well-behaved guest exits 0.
# Host 1G pages may be unobtainable in a 2 GiB machine: a clean status-1
# refusal there is a skip. Guest 1G pages must work (-cpu max has pdpe1gb).
check_guest() {
	g=$2 v=$3 gp=$4 hp=$5
	name="$1/$g-v$v-g$gp-h$hp"
	mem=64M
	[ $gp = 1g ] || [ $hp = hugetlb1g ] && mem=1G
	brun run --mem $mem --vcpus $v --guest-pages $gp --host-pages $hp $g
	if [ $st -eq 1 ] && [ $hp = hugetlb1g ]; then
		r_skip "$name" "host 1G pages refused: $(tail -c 200 $E)"
	elif [ $st -ne 0 ]; then
		r_fail "$name" "beyond run --mem $mem --vcpus $v --guest-pages $gp --host-pages $hp $g: $(why)"
	elif [ $g = hello ] && ! grep -Eq "(^|[^0-9])$v([^0-9]|$)" $O; then
		r_fail "$name" "greeting does not name $v vCPU(s): $(tail -c 200 $O)"
	else
		r_pass "$name"
	fi
}

run_checks() {
	mode=$1 mmu=${2:-$1}
	check_ok "$mode/version" version
	brun guests
	missing=
	for g in hello smp fault badcall spin; do grep -qw $g $O || missing="$missing $g"; done
	if [ $st -eq 0 ] && [ -z "$missing" ]; then r_pass "$mode/guests"
	else r_fail "$mode/guests" "beyond guests lacks:$missing; $(why)"; fi

	for g in hello smp; do
		for v in 1 2; do
			for gp in 4k 2m 1g; do
				for hp in 4k thp hugetlb2m hugetlb1g; do
					check_guest $mode $g $v $gp $hp
				done
			done
		done
	done

	for v in 1 2; do
		check_abnormal "$mode/fault-v$v" divide run --mem 64M --vcpus $v fault
		check_abnormal "$mode/badcall-v$v" hypercall run --mem 64M --vcpus $v badcall
		check_abnormal "$mode/spin-v$v" timeout run --mem 64M --vcpus $v --timeout 2 spin
	done

	# The benchmark must see which MMU this KVM uses; its numbers are ignored.
	json=${TMPDIR:-/tmp}/tlb-$mode.json
	rm -f $json
	brun bench tlb --quick --sizes 16M --reps 1 --json $json
	if [ $st -ne 0 ]; then
		r_fail "$mode/bench-tlb-mmu" "beyond bench tlb: $(why)"
	elif ! [ -s $json ]; then
		r_fail "$mode/bench-tlb-mmu" "no JSON written to $json"
	elif ! grep -q "^mmu: $mmu\$" $O; then
		r_fail "$mode/bench-tlb-mmu" "no 'mmu: $mmu' line: $(grep '^mmu' $O || tail -c 200 $O)"
	elif ! grep -Eq "\"mmu\" *: *\"$mmu\"" $json; then
		r_fail "$mode/bench-tlb-mmu" "no \"mmu\": \"$mmu\" in $json: $(grep -o '"mmu"[^,}]*' $json | sort -u | tr '\n' ' ')"
	elif grep -o '"mmu" *: *"[a-z]*"' $json | grep -vq "\"$mmu\""; then
		r_fail "$mode/bench-tlb-mmu" "JSON records disagree on mmu: $(grep -o '"mmu" *: *"[a-z]*"' $json | sort -u | tr '\n' ' ')"
	else
		r_pass "$mode/bench-tlb-mmu"
	fi
}
