/* Console output: a small printf (%d %i %u %x %p %s %c %%, with l/ll/z, width, 0 and -). */
#include "guest-runtime/beyond.h"

void console_write(const char *s, size_t len)
{
	while (len > 0) {
		size_t n = len > BEYOND_CONSOLE_MAX ? BEYOND_CONSOLE_MAX : len;
		struct beyond_hc_console a = { .buf = (uint64_t)(uintptr_t)s, .len = n };
		hypercall(BEYOND_HC_CONSOLE, &a);
		s += n;
		len -= n;
	}
}

struct out {
	char *buf;
	size_t size, pos;
};

static void put(struct out *o, char c)
{
	if (o->pos + 1 < o->size)
		o->buf[o->pos] = c;
	o->pos++;
}

static void put_padded(struct out *o, const char *s, size_t n, int width, int left, char pad)
{
	int fill = width > (int)n ? width - (int)n : 0;
	if (!left)
		while (fill-- > 0)
			put(o, pad);
	for (size_t i = 0; i < n; i++)
		put(o, s[i]);
	if (left)
		while (fill-- > 0)
			put(o, ' ');
}

static size_t format_u64(char *tmp, uint64_t v, unsigned base)
{
	size_t n = 0;
	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	for (size_t i = 0; i < n / 2; i++) {
		char t = tmp[i];
		tmp[i] = tmp[n - 1 - i];
		tmp[n - 1 - i] = t;
	}
	return n;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { buf, size, 0 };
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		fmt++;
		int left = 0, width = 0, longs = 0;
		char pad = ' ';
		for (; *fmt == '-' || *fmt == '0'; fmt++)
			if (*fmt == '-')
				left = 1;
			else
				pad = '0';
		for (; *fmt >= '0' && *fmt <= '9'; fmt++)
			width = width * 10 + (*fmt - '0');
		for (; *fmt == 'l' || *fmt == 'z'; fmt++)
			longs++;
		char tmp[24];
		size_t n;
		uint64_t u;
		switch (*fmt) {
		case 'd':
		case 'i': {
			int64_t s = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
			tmp[0] = '-';
			n = format_u64(tmp + (s < 0), s < 0 ? -(uint64_t)s : (uint64_t)s, 10) + (s < 0);
			put_padded(&o, tmp, n, width, left, pad);
			break;
		}
		case 'u':
		case 'x':
			u = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
			put_padded(&o, tmp, format_u64(tmp, u, *fmt == 'u' ? 10 : 16), width, left, pad);
			break;
		case 'p':
			put(&o, '0');
			put(&o, 'x');
			u = (uintptr_t)va_arg(ap, void *);
			put_padded(&o, tmp, format_u64(tmp, u, 16), width, left, pad);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			put_padded(&o, s ? s : "(null)", strlen(s ? s : "(null)"), width, left, ' ');
			break;
		}
		case 'c':
			tmp[0] = (char)va_arg(ap, int);
			put_padded(&o, tmp, 1, width, left, ' ');
			break;
		case '%':
			put(&o, '%');
			break;
		default:
			return -1;
		}
	}
	if (size > 0)
		buf[o.pos < size ? o.pos : size - 1] = '\0';
	return (int)o.pos;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

int printf(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		console_write(buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
	return n;
}
