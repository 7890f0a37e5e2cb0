#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "blk/disk.h"
#include "blk/disk_spec.h"
#include "blk/io_cap.h"
#include "hv/cli/cli.h"

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -1)

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
		double cap;
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
		else if (strcmp(item, "iops") == 0 || strcmp(item, "bps") == 0) {
			if (io_cap_parse(item, v, &cap, err, errlen))
				return -1;
			*(item[0] == 'i' ? &s->iops : &s->bps) = (uint64_t)cap;
		} else if (strcmp(item, "threads") == 0) {
			if (parse_size_in(item, v, 1, DISK_MAX_THREADS, &n, err, errlen))
				return -1;
			s->threads = (unsigned)n;
		} else if (strcmp(item, "poll") == 0) {
			if (parse_size_in(item, v, 0, 100000, &n, err, errlen))
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
