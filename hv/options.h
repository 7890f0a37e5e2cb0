/* Parsing of command-line values shared by the subcommands. */
#ifndef BEYOND_OPTIONS_H
#define BEYOND_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

/* "512M", "4G", "64k", "4096": bytes, suffixes in powers of 1024. */
int parse_size(const char *s, uint64_t *out);
/* "4k" | "2m" | "1g" -> 4 KiB, 2 MiB, 1 GiB. */
int parse_guest_pages(const char *s, uint64_t *out);
const char *guest_pages_name(uint64_t page);
/* Whole file into a malloc'd buffer; 0 or -1 with a reason in err. */
int read_file(const char *path, uint8_t **data, size_t *size, char *err, size_t errlen);

#endif
