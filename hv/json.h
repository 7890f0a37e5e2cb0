/* A streaming JSON writer: nesting, numbers, and strings escaped as RFC 8259 asks. */
#ifndef BEYOND_JSON_H
#define BEYOND_JSON_H

#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 16

/*
 * Values and containers take their key first: NULL inside arrays and for the
 * outermost container. A container opened with `lines` set puts each member
 * on a line of its own; otherwise members follow on one line. Closing the
 * outermost container ends the document with a newline.
 */
struct json {
	FILE *f;
	unsigned depth;
	uint32_t is_array, lines, has_members;  /* bit d: the container at depth d */
};

void json_start(struct json *j, FILE *f);
void json_object(struct json *j, const char *key, int lines);
void json_array(struct json *j, const char *key, int lines);
void json_end(struct json *j);
void json_str(struct json *j, const char *key, const char *s);
void json_num(struct json *j, const char *key, double v, int decimals);  /* NaN, inf: null */
void json_int(struct json *j, const char *key, long long v);
void json_uint(struct json *j, const char *key, unsigned long long v);
void json_bool(struct json *j, const char *key, int v);
void json_null(struct json *j, const char *key);

#endif
