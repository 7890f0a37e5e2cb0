# In-guest checks for one kvm_amd mode (POSIX sh, sourced after report.sh):
#   run_checks LABEL [MMU]   (LABEL npt or shadow; MMU defaults to LABEL)
# Drives the static beyond binary through every built-in guest, the hostile
# test-only guests (image files in $TG), the pager (a swap round trip) and the
# TLB benchmark's MMU detection.
# Timings are never checked: under TCG they mean nothing.
B=${BEYOND_BIN:-/bin/beyond}
TG=${BEYOND_TEST_GUESTS:-/guests}
O=${TMPDIR:-/tmp}/out E=${TMPDIR:-/tmp}/err
# Guard against a hung monitor; a kill shows as status 137/143.
RUN_LIMIT=90

# brun ARGS...: run beyond, stdout/stderr in $O/$E, status in $st.
brun() {
	timeout -s TERM -k 5 $RUN_LIMIT $B "$@" >$O 2>$E
	st=$?
}
why() { echo "exit $st; stderr: $(tail -c 200 $E); stdout: $(tail -c 120 $O)"; }

# check_status NAME WANT ARGS...: expects exit status WANT.
check_status() {
	name=$1 want=$2; shift 2
	brun "$@"
	if [ $st -eq $want ]; then r_pass "$name"; else r_fail "$name" "beyond $*: wanted exit $want; $(why)"; fi
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

# check_guest MODE GUEST VCPUS GPAGES HPAGES: a well-behaved guest exits 0
# and saw the configuration asked for; hugetlb backing must really be huge.
# 1 GiB of hugetlb pages may not be found at run time (fragmentation, or a
# smaller QEMU guest), so a clean status-1 refusal to get them is a skip.
# Guest 1G pages must work (-cpu max has pdpe1gb).
check_guest() {
	g=$2 v=$3 gp=$4 hp=$5
	name="$1/$g-v$v-g$gp-h$hp"
	mem=64
	[ $gp = 1g ] || [ $hp = hugetlb1g ] && mem=1024
	case $gp in 4k) kib=4 ;; 2m) kib=2048 ;; 1g) kib=1048576 ;; esac
	args="run --verbose --mem ${mem}M --vcpus $v --guest-pages $gp --host-pages $hp $g"
	brun $args
	if [ $st -eq 1 ] && [ $mem = 1024 ] && [ "${hp#hugetlb}" != $hp ] && grep -q 'cannot get' $E; then
		r_skip "$name" "not enough memory for 1 GiB of $hp pages: $(tail -c 200 $E)"
	elif [ $st -ne 0 ]; then
		r_fail "$name" "beyond $args: $(why)"
	elif [ $g = hello ] && ! grep -Eq "[^0-9]$v vCPUs?, $mem MiB RAM, $kib KiB pages" $O; then
		r_fail "$name" "greeting does not say '$v vCPU(s), $mem MiB RAM, $kib KiB pages': $(tail -c 200 $O)"
	elif [ $g = smp ] && ! grep -q "all $v vCPUs checked in" $O; then
		r_fail "$name" "not all $v vCPUs checked in: $(tail -c 200 $O)"
	elif [ "${hp#hugetlb}" != $hp ] && ! grep -q "100% on huge pages" $E; then
		r_fail "$name" "$hp backing not all huge: $(grep -i 'huge' $E || tail -c 200 $E)"
	else
		r_pass "$name"
	fi
}

run_checks() {
	mode=$1 mmu=${2:-$1}
	check_status "$mode/version" 0 version
	brun guests
	missing=
	for g in hello smp exit tlb; do grep -qw $g $O || missing="$missing $g"; done
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
	check_status "$mode/exit-42" 42 run --mem 64M exit 42

	# Hostile guests end with status 125 and a reason; never the monitor.
	for v in 1 2; do
		check_abnormal "$mode/fault-div-v$v" divide run --mem 64M --vcpus $v $TG/fault.elf div
		check_abnormal "$mode/badcall-buf-v$v" hypercall run --mem 64M --vcpus $v $TG/badcall.elf buf
		check_abnormal "$mode/spin-v$v" timeout run --mem 64M --vcpus $v --timeout 2 $TG/spin.elf
	done
	check_abnormal "$mode/fault-pf" "page fault" run --mem 64M $TG/fault.elf pf
	check_abnormal "$mode/fault-ud" "invalid opcode" run --mem 64M $TG/fault.elf ud
	check_abnormal "$mode/fault-gp" "general protection" run --mem 64M $TG/fault.elf gp
	for how in struct len wrap; do
		check_abnormal "$mode/badcall-$how" hypercall run --mem 64M $TG/badcall.elf $how
	done
	check_abnormal "$mode/badcall-port" port run --mem 64M $TG/badcall.elf port

	# The pager under this MMU: guest RAM on userfaultfd, evicted and read back
	# (the sweep checks every byte of each pass: a checksum per page), in 4K and
	# 2M units. Swap-in latency is reported, never checked.
	for unit in 4k:6M 2m:8M; do
		limit=${unit#*:} unit=${unit%:*}
		brun run --mem 32M --mem-limit $limit --swap-unit $unit --swap ${TMPDIR:-/tmp} --stats swap sweep 8M 2
		ins=$(sed -n 's/^ *swap_ins: //p' $E)
		if [ $st -eq 0 ] && [ "${ins:-0}" -gt 0 ]; then
			r_pass "$mode/pager-sweep-$unit"
			r_info "$mode: pager $unit units: $ins swap-ins, $(sed -n 's/^ *faults: //p' $E) faults, swap-in median $(sed -n 's/^ *swap_in_median_us: //p' $E) us, p99 $(sed -n 's/^ *swap_in_p99_us: //p' $E) us"
		else
			r_fail "$mode/pager-sweep-$unit" "wanted exit 0 and swap-ins > 0 (got ${ins:-none}); $(why)"
		fi
	done

	# virtio-blk under this KVM: a guest's pattern written and read back, and
	# whether KVM takes an ioeventfd for QueueNotify (cost per notification as
	# the guest sees it, by ioeventfd and by MMIO exit: information only).
	disk=${TMPDIR:-/tmp}/nested-disk.img
	dd if=/dev/zero of=$disk bs=1M count=4 2>/dev/null
	brun run --mem 64M --disk file=$disk disk fill 0 5
	if [ $st -eq 0 ] && brun run --mem 64M --disk file=$disk,ro disk verify 0 5 && [ $st -eq 0 ]; then
		r_pass "$mode/virtio-blk-fill-verify"
	else
		r_fail "$mode/virtio-blk-fill-verify" "$(why)"
	fi
	for ev in on off; do
		brun run --mem 64M --stats --disk file=$disk,ioeventfd=$ev disk notify 0 200
		used=$(sed -n 's/^ *ioeventfd: //p' $E | head -n 1)
		if [ $st -eq 0 ] && [ -n "$used" ]; then
			r_pass "$mode/virtio-blk-notify-ioeventfd-$ev"
			r_info "$mode: virtio-blk ioeventfd=$ev: KVM_IOEVENTFD $([ "$used" = 1 ] && echo accepted || echo 'not used (MMIO exits)'), $(grep -o '[0-9]* ns each' $O)"
		else
			r_fail "$mode/virtio-blk-notify-ioeventfd-$ev" "$(why)"
		fi
	done
	rm -f $disk

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
	# Which configurations this KVM could not give (behaviour, not timing).
	if [ -s $json ]; then
		if grep '"achieved": *false' $json >$O.na; then
			r_info "$mode: bench tlb not achieved: $(sed -n 's/.*"guest_pages": *"\([^"]*\)", *"host_pages": *"\([^"]*\)".*/g\1\/h\2/p' $O.na | sort -u | tr '\n' ' ')"
			r_info "$mode: because: $(sed -n 's/.*"reason": *"\([^"]*\)".*/\1/p' $O.na | sort -u | tr '\n' ';')"
		else
			r_info "$mode: bench tlb achieved every configuration ($(grep -c '"achieved": *true' $json) records)"
		fi
	fi
}
