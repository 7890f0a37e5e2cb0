/* Time, and a progress line on stderr for runs that take minutes. */
#include <stdarg.h>
#include <unistd.h>
#include "hv/bench/bench.h"

double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void bench_progress_start(struct bench_progress *p, unsigned steps)
{
	*p = (struct bench_progress){ .start = bench_now(), .steps = steps, .tty = isatty(STDERR_FILENO) };
}

void bench_progress(struct bench_progress *p, const char *fmt, ...)
{
	va_list ap;
	/* On a terminal one line redrawn; in a log, a line per step. */
	fprintf(stderr, "%s[%u/%u, %.0fs] ", p->tty ? "\r\033[K" : "", ++p->step, p->steps, bench_now() - p->start);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(p->tty ? "" : "\n", stderr);
}

void bench_progress_end(struct bench_progress *p)
{
	fprintf(stderr, "%sdone in %.0fs\n", p->tty ? "\r\033[K" : "", bench_now() - p->start);
}
