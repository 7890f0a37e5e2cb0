/* "Not achieved: reason": a configuration that did not really happen says so. */
#include <stdarg.h>
#include "hv/bench/bench.h"

void bench_check_init(struct bench_check *c)
{
	c->achieved = 1;
	c->reason[0] = 0;
}

void bench_fail(struct bench_check *c, const char *fmt, ...)
{
	if (!c->achieved)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
	c->achieved = 0;
}

void json_check(struct json *j, const struct bench_check *c)
{
	json_bool(j, "achieved", c->achieved);
	json_str(j, "reason", c->achieved ? "" : c->reason);
}
