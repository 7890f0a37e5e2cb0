#!/usr/bin/env bash
# A guest built the way a user builds one: `make guest` into a fresh build
# directory (nothing prebuilt), the example of guest-runtime/examples/ and a
# two-file guest from outside the tree, both run with `beyond run`.
source "$(dirname "$0")/harness.sh"
b=$T_TMP/build

t_expect "make guest without SRC is a usage error" 2 make -C "$T_ROOT" BUILD="$b" guest
t_grep "make guest names its usage" "$T_TMP/err" "usage: make guest SRC="
t_expect "make guest builds the example" 0 make -C "$T_ROOT" BUILD="$b" guest \
	SRC=guest-runtime/examples/primes.c OUT="$T_TMP/primes.elf"
for f in guest/boot/entry.o guest/boot/exceptions.o guest/libbeyond-rt.a; do
	if [ -f "$b/$f" ]; then t_pass "$f is kept for hand links"; else t_fail "$f is kept for hand links" "not in $b"; fi
done

mkdir -p "$T_TMP/my"
cat >"$T_TMP/my/main.c" <<'EOF'
#include "guest-runtime/beyond.h"
uint64_t twice(uint64_t v);

int main(int argc, char **argv)
{
	uint64_t v = argc > 1 ? strtou64(argv[1], 0) : 0;
	printf("%s: twice %lu is %lu\n", argv[0], (unsigned long)v, (unsigned long)twice(v));
	return (int)twice(v);
}
EOF
cat >"$T_TMP/my/twice.c" <<'EOF'
#include <stdint.h>
uint64_t twice(uint64_t v) { return 2 * v; }
EOF
t_expect "make guest builds several files from outside the tree" 0 make -C "$T_ROOT" BUILD="$b" guest \
	SRC="$T_TMP/my/main.c $T_TMP/my/twice.c" OUT="$T_TMP/bin/my.elf"

if ! have_kvm; then
	t_skip "running the guests built" "/dev/kvm is not usable here"
	t_done
	exit
fi
primes=$T_TMP/primes.elf
t_expect "example runs" 0 "$BEYOND" run "$primes" 30
if [ "$(tr '\n' ' ' <"$T_TMP/out")" = "2 3 5 7 11 13 17 19 23 29 10 primes up to 30 " ]; then
	t_pass "example prints the primes up to 30"
else
	t_fail "example prints the primes up to 30" "got: $(head -c 300 "$T_TMP/out")"
fi
t_expect "example on 2M guest pages, 1K numbers" 0 "$BEYOND" run --guest-pages 2m "$primes" 1K &&
	t_grep "example counts the primes up to 1024" "$T_TMP/out" '^172 primes up to 1024$'
t_expect "example without N is a usage error" 2 "$BEYOND" run "$primes" &&
	t_grep "example names its usage" "$T_TMP/out" '^usage: .*primes.elf N'
t_expect "example with too large an N says so" 3 "$BEYOND" run --mem 16M "$primes" 1G &&
	t_grep "example says the heap is too small" "$T_TMP/out" 'does not fit'
t_expect "two-file guest exits with its result" 42 "$BEYOND" run "$T_TMP/bin/my.elf" 21 &&
	t_grep "two-file guest prints" "$T_TMP/out" 'my.elf: twice 21 is 42$'

t_done
