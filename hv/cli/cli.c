#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "hv/cli/cli.h"

#define MAX_IMAGE_FILE (256u << 20)

static void complain(const char *fmt, va_list ap)
{
	fputs("beyond: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int usage_error(const char *usage, const char *fmt, ...)
{
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		complain(fmt, ap);
		va_end(ap);
	}
	fputs(usage, stderr);
	return STATUS_USAGE;
}

int setup_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	complain(fmt, ap);
	va_end(ap);
	return STATUS_SETUP_ERROR;
}

int parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	if (*s < '0' || *s > '9')
		return -1;
	unsigned long long v = strtoull(s, &end, 10);
	int shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	}
	if (errno || *end || (shift && v > (~0ull >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

int parse_size_in(const char *key, const char *v, uint64_t lo, uint64_t hi, uint64_t *out, char *err,
		  size_t errlen)
{
	if (v && !parse_size(v, out) && *out >= lo && *out <= hi)
		return 0;
	snprintf(err, errlen, "%s needs a number from %llu to %llu", key, (unsigned long long)lo,
		 (unsigned long long)hi);
	return -1;
}

int read_file(const char *path, uint8_t **data, size_t *size, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > MAX_IMAGE_FILE) {
		snprintf(err, errlen, "%s: not a regular file of at most %u MiB", path, MAX_IMAGE_FILE >> 20);
		goto fail;
	}
	*data = malloc(st.st_size ? st.st_size : 1);
	if (!*data) {
		snprintf(err, errlen, "out of memory reading %s", path);
		goto fail;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, *data + got, st.st_size - got);
		if (n <= 0) {
			snprintf(err, errlen, "cannot read %s: %s", path, n < 0 ? strerror(errno) : "file shrank");
			free(*data);
			goto fail;
		}
		got += n;
	}
	*size = got;
	close(fd);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}
