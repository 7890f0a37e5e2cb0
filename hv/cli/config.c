/* The --config file format (config.h): sections of key = value lines. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hv/cli/cli.h"
#include "hv/cli/config.h"
#include "hv/error.h"

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		s[--n] = 0;
	return s;
}

/* Names of sections and keys: letters, digits, '-', '_', '.'. */
static int is_name(const char *s)
{
	if (!*s || strlen(s) > 63)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
			return 0;
	return 1;
}

static int section(struct config *c, char *head, unsigned line, char *err, size_t errlen)
{
	char *close = strchr(head, ']');
	if (!close || *trim(close + 1))
		return error_set(err, errlen, "line %u: a section header is [vm NAME], [group NAME] or [run]", line);
	*close = 0;
	char *kind = trim(head + 1), *name = kind;
	while (*name && *name != ' ' && *name != '\t')
		name++;
	if (*name)
		*name++ = 0;
	name = trim(name);
	int run = strcmp(kind, "run") == 0; /* the run's own settings: no name */
	if (strcmp(kind, "vm") != 0 && strcmp(kind, "group") != 0 && !run)
		return error_set(err, errlen, "line %u: unknown section kind '%s' (vm, group or run)", line, kind);
	if (run && *name)
		return error_set(err, errlen, "line %u: [run] takes no name", line);
	if (!run && !is_name(name))
		return error_set(err, errlen, "line %u: bad %s name '%s' (1-63 letters, digits, -_.)", line, kind, name);
	for (unsigned i = 0; i < c->n; i++)
		if (strcmp(c->sections[i]->kind, kind) == 0 && strcmp(c->sections[i]->name, name) == 0)
			return error_set(err, errlen, run ? "line %u: [%s%s] is already defined on line %u"
					 : "line %u: %s %s is already defined on line %u", line, kind, name, c->sections[i]->line);
	if (c->n == CONFIG_MAX_SECTIONS)
		return error_set(err, errlen, "line %u: more than %d sections", line, CONFIG_MAX_SECTIONS);
	struct config_section *s = calloc(1, sizeof(*s));
	if (!s || !(s->kind = strdup(kind)) || !(s->name = strdup(name))) {
		if (s)
			free(s->kind);
		free(s);
		return error_set(err, errlen, "out of memory");
	}
	s->line = line;
	c->sections[c->n++] = s;
	return 0;
}

static int entry(struct config *c, char *text, unsigned line, char *err, size_t errlen)
{
	if (c->n == 0)
		return error_set(err, errlen, "line %u: '%s' before any [vm NAME], [group NAME] or [run] section", line, text);
	struct config_section *s = c->sections[c->n - 1];
	char *eq = strchr(text, '='), *value = NULL;
	if (eq) {
		*eq = 0;
		value = trim(eq + 1);
		if (!*value)
			return error_set(err, errlen, "line %u: no value after '='", line);
	}
	char *key = trim(text);
	if (!is_name(key))
		return error_set(err, errlen, "line %u: bad key '%s'", line, key);
	if (s->n == CONFIG_MAX_ENTRIES)
		return error_set(err, errlen, "line %u: more than %d keys in one section", line, CONFIG_MAX_ENTRIES);
	struct config_entry *e = &s->entries[s->n];
	if (!(e->key = strdup(key)) || (value && !(e->value = strdup(value)))) {
		free(e->key);
		return error_set(err, errlen, "out of memory");
	}
	e->line = line;
	s->n++;
	return 0;
}

int config_parse(const char *text, struct config *c, char *err, size_t errlen)
{
	char buf[CONFIG_MAX_LINE + 1];
	unsigned line = 0;
	memset(c, 0, sizeof(*c));
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		line++;
		if (n > CONFIG_MAX_LINE) {
			config_free(c);
			return error_set(err, errlen, "line %u: longer than %d bytes", line, CONFIG_MAX_LINE);
		}
		memcpy(buf, p, n);
		buf[n] = 0;
		p += n + (nl != NULL);
		char *t = trim(buf);
		if (!*t || *t == '#')
			continue;
		if ((*t == '[' ? section(c, t, line, err, errlen) : entry(c, t, line, err, errlen)) != 0) {
			config_free(c);
			return -1;
		}
	}
	return 0;
}

int config_load(const char *path, struct config *c, char *err, size_t errlen)
{
	uint8_t *data;
	size_t size;
	char why[512];
	if (read_file(path, &data, &size, why, sizeof(why)))
		return error_set(err, errlen, "%s", why);
	char *text = realloc(data, size + 1);
	if (!text) {
		free(data);
		return error_set(err, errlen, "out of memory");
	}
	text[size] = 0;
	size_t nul = strlen(text);
	unsigned line = 1;
	for (size_t i = 0; i < nul; i++)
		line += text[i] == '\n';
	/* A binary file ends at its first NUL byte: say where, rather than read half of it. */
	int r = nul != size ? error_set(why, sizeof(why), "line %u: a NUL byte", line)
		: config_parse(text, c, why, sizeof(why));
	free(text);
	if (r)
		return error_set(err, errlen, "%s:%s", path, strncmp(why, "line ", 5) == 0 ? why + 5 : why);
	return 0;
}

void config_free(struct config *c)
{
	for (unsigned i = 0; i < c->n; i++) {
		struct config_section *s = c->sections[i];
		for (unsigned k = 0; k < s->n; k++) {
			free(s->entries[k].key);
			free(s->entries[k].value);
		}
		free(s->kind);
		free(s->name);
		free(s);
	}
	c->n = 0;
}
