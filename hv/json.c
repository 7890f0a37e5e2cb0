/* A streaming JSON writer: nesting, numbers, and strings escaped as RFC 8259 asks. */
#include <math.h>
#include "hv/json.h"

void json_start(struct json *j, FILE *f)
{
	*j = (struct json){ .f = f };
}

/* Bytes of 0x80 and above pass through: strings are UTF-8 already. */
static void quote(FILE *f, const char *s)
{
	static const char short_form[] = { ['\b'] = 'b', ['\t'] = 't', ['\n'] = 'n', ['\f'] = 'f', ['\r'] = 'r' };
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < sizeof(short_form) && short_form[*p])
			fprintf(f, "\\%c", short_form[*p]);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

/* Separator, line break and key before a new member of the innermost container. */
static void member(struct json *j, const char *key)
{
	uint32_t bit = 1u << j->depth;
	if (j->depth > 0) {
		if (j->has_members & bit)
			fputc(',', j->f);
		if (j->lines & bit)
			fprintf(j->f, "\n%*s", 2 * (int)j->depth, "");
		else if (j->has_members & bit)
			fputc(' ', j->f);
		j->has_members |= bit;
	}
	if (key) {
		quote(j->f, key);
		fputs(": ", j->f);
	}
}

static void begin(struct json *j, const char *key, int lines, int array)
{
	member(j, key);
	if (j->depth + 1 >= JSON_MAX_DEPTH)
		return;
	uint32_t bit = 1u << ++j->depth;
	j->has_members &= ~bit;
	j->lines = lines ? j->lines | bit : j->lines & ~bit;
	j->is_array = array ? j->is_array | bit : j->is_array & ~bit;
	fputc(array ? '[' : '{', j->f);
}

void json_object(struct json *j, const char *key, int lines)
{
	begin(j, key, lines, 0);
}

void json_array(struct json *j, const char *key, int lines)
{
	begin(j, key, lines, 1);
}

void json_end(struct json *j)
{
	uint32_t bit = 1u << j->depth;
	if (j->depth == 0)
		return;
	if ((j->lines & bit) && (j->has_members & bit))
		fprintf(j->f, "\n%*s", 2 * (int)(j->depth - 1), "");
	fputc(j->is_array & bit ? ']' : '}', j->f);
	if (--j->depth == 0)
		fputc('\n', j->f);
}

void json_str(struct json *j, const char *key, const char *s)
{
	member(j, key);
	quote(j->f, s);
}

void json_num(struct json *j, const char *key, double v, int decimals)
{
	member(j, key);
	if (isfinite(v))
		fprintf(j->f, "%.*f", decimals, v);
	else
		fputs("null", j->f);
}

void json_int(struct json *j, const char *key, long long v)
{
	member(j, key);
	fprintf(j->f, "%lld", v);
}

void json_uint(struct json *j, const char *key, unsigned long long v)
{
	member(j, key);
	fprintf(j->f, "%llu", v);
}

void json_bool(struct json *j, const char *key, int v)
{
	member(j, key);
	fputs(v ? "true" : "false", j->f);
}

void json_null(struct json *j, const char *key)
{
	member(j, key);
	fputs("null", j->f);
}
