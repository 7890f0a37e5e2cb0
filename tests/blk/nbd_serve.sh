# Sourced by the NBD suites after tests/harness.sh; they set S (the store)
# and SOCK (the socket path).
url() { echo "nbd+unix:///$1?socket=$SOCK"; }
# serve [OPTIONS...]: `blk serve` of $S on $SOCK in the background (pid in
# SERVER, stderr appended to serve.log); fails, saying so, if no socket
# appears within 5 s.
serve() {
	rm -f "$SOCK"
	"$BEYOND" blk serve "$S" --nbd "unix:$SOCK" "$@" 2>>"$T_TMP/serve.log" &
	SERVER=$!
	for _ in $(seq 100); do [ -S "$SOCK" ] && return 0; sleep 0.05; done
	t_fail "server starts" "$(cat "$T_TMP/serve.log")"
	return 1
}
stop() { kill -TERM "$SERVER" 2>/dev/null; wait "$SERVER"; }
