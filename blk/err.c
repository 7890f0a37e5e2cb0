/* Problem reports of the block store and its front ends, one line each. */
#include <stdarg.h>
#include <stdio.h>
#include "blk/store.h"

void blk_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("beyond blk: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}
