# In-guest result lines (POSIX sh, sourced): one console line per check, read
# by suite_nested.sh on the host. A reason is squeezed onto one line.
n_results=0
_line() { printf '%s' "$*" | tr '\n\r\t' '   ' | cut -c 1-300; }
r_pass() { n_results=$((n_results + 1)); echo "NESTED-RESULT PASS $1"; }
r_fail() { n_results=$((n_results + 1)); echo "NESTED-RESULT FAIL $1 $(_line "$2")"; }
r_skip() { n_results=$((n_results + 1)); echo "NESTED-RESULT SKIP $1 $(_line "$2")"; }
r_info() { echo "NESTED-INFO $(_line "$*")"; }
