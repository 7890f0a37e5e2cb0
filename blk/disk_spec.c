#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "blk/disk.h"
#include "blk/disk_spec.h"
#include "hv/cli/cli.h"

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -1)

static int number(const char *key, const char *v, uint64_t lo, uint64_t hi, uint64_t *out, char *err,
		  size_t errlen)
{
	if (!v || parse_size(v, out) || *out < lo || *out > hi)
		return ERR("%s needs a number from %llu to %llu", key, (unsigned long long)lo, (unsigned long long)hi);
	return 0;
}

int disk_spec_parse(const char *value, struct disk_spec *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->threads = 1;
	s->poll_us = 50;
	if (strlen(value) >= sizeof(s->buf))
		return ERR("too long");
	strcpy(s->buf, value);
	for (char *save, *item = strtok_r(s->buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *v = strchr(item, '=');
		uint64_t n;
		if (v)
			*v++ = 0;
		if (strcmp(item, "store") == 0 && v && *v)
			s->store = v;
		else if (strcmp(item, "vol") == 0 && v && *v)
			s->vol = v;
		else if (strcmp(item, "file") == 0 && v && *v)
			s->file = v;
		else if (strcmp(item, "id") == 0 && v)
			s->id = v;
		else if (strcmp(item, "ro") == 0 && !v)
			s->ro = true;
		else if (strcmp(item, "ioeventfd") == 0 && v && (!strcmp(v, "on") || !strcmp(v, "off")))
			s->no_ioeventfd = strcmp(v, "off") == 0;
		else if (strcmp(item, "iops") == 0) {
			if (number(item, v, 1, 1ull << 30, &s->iops, err, errlen))
				return -1;
		} else if (strcmp(item, "bps") == 0) {
			if (number(item, v, 4096, 1ull << 40, &s->bps, err, errlen))
				return -1;
		} else if (strcmp(item, "threads") == 0) {
			if (number(item, v, 1, DISK_MAX_THREADS, &n, err, errlen))
				return -1;
			s->threads = (unsigned)n;
		} else if (strcmp(item, "poll") == 0) {
			if (number(item, v, 0, 100000, &n, err, errlen))
				return -1;
			s->poll_us = (unsigned)n;
		} else {
			return ERR("unknown item '%s%s%s'", item, v ? "=" : "", v ? v : "");
		}
	}
	if (!s->file == !s->store || !s->store != !s->vol)
		return ERR("give store=DIR,vol=NAME or file=PATH");
	return 0;
}

int disk_spec_open(const struct disk_spec *s, struct disk **out, char *err, size_t errlen)
{
	return s->file ? disk_open_file(s->file, s->ro, out, err, errlen)
		       : disk_open_volume(s->store, s->vol, s->ro, out, err, errlen);
}
