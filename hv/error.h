/* One-line error reasons, passed up to whoever prints them. */
#ifndef BEYOND_ERROR_H
#define BEYOND_ERROR_H

#include <stddef.h>

/* Formats a reason into err (errlen bytes) and returns -1, for `return error_set(...)`. */
int error_set(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
