/* The --config format: sections, keys, values, and line-numbered errors (hv/cli/config.c). */
#include <criterion/criterion.h>
#include <string.h>
#include "hv/cli/config.h"

Test(config, sections_keys_flags_and_comments)
{
	struct config c;
	char err[256];
	const char *text = "# comment\n\n[group g1]\nshares = 2\n[vm a]\n  guest = hello  \nargs = x  y\nprefault\n"
			   "disk = one\ndisk = two\n[vm b]\nguest=exit";
	cr_assert_eq(config_parse(text, &c, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(c.n, 3);
	cr_assert_str_eq(c.sections[0]->kind, "group");
	cr_assert_str_eq(c.sections[1]->name, "a");
	cr_assert_eq(c.sections[1]->n, 5);
	cr_assert_str_eq(c.sections[1]->entries[0].value, "hello");
	cr_assert_str_eq(c.sections[1]->entries[1].value, "x  y");
	cr_assert_null(c.sections[1]->entries[2].value, "a flag has no value");
	cr_assert_eq(c.sections[1]->entries[2].line, 8);
	cr_assert_str_eq(c.sections[1]->entries[4].value, "two", "repeated keys are kept in order");
	cr_assert_str_eq(c.sections[2]->entries[0].value, "exit");
	config_free(&c);
	cr_assert_eq(config_parse("[run]\nsched = gang\nrt\n[vm a]\nguest = hello\n", &c, err, sizeof(err)), 0, "%s", err);
	cr_assert_str_eq(c.sections[0]->kind, "run");
	cr_assert_str_eq(c.sections[0]->name, "", "[run] has no name");
	cr_assert_eq(c.sections[0]->n, 2);
	config_free(&c);
}

Test(config, malformed_files_name_the_line)
{
	static const struct { const char *text, *want; } bad[] = {
		{ "guest = hello\n", "line 1: 'guest = hello' before any" },
		{ "[vm a]\n[vm a]\n", "line 2: vm a is already defined on line 1" },
		{ "[vm a\n", "line 1: a section header" },
		{ "[box a]\n", "line 1: unknown section kind 'box'" },
		{ "[vm]\n", "line 1: bad vm name ''" },
		{ "[vm a b]\n", "line 1: bad vm name 'a b'" },
		{ "[vm a]\n\nmem =\n", "line 3: no value after '='" },
		{ "[vm a]\n= 5\n", "line 2: bad key ''" },
		{ "[vm a]\nbad key = 1\n", "line 2: bad key 'bad key'" },
		{ "[vm a] x\n", "line 1: a section header" },
		{ "[run x]\n", "line 1: [run] takes no name" },
		{ "[run]\n[run]\n", "line 2: [run] is already defined on line 1" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct config c;
		char err[256] = "";
		cr_assert_eq(config_parse(bad[i].text, &c, err, sizeof(err)), -1, "accepted: %s", bad[i].text);
		cr_assert(strstr(err, bad[i].want), "'%s' gave '%s'", bad[i].text, err);
		cr_assert_eq(c.n, 0, "freed on error");
	}
}

Test(config, long_lines_and_files)
{
	struct config c;
	char err[256];
	char *text = malloc(CONFIG_MAX_LINE + 32);
	strcpy(text, "[vm a]\nargs = ");
	memset(text + strlen(text), 'x', CONFIG_MAX_LINE);
	text[14 + CONFIG_MAX_LINE] = 0;
	cr_assert_eq(config_parse(text, &c, err, sizeof(err)), -1);
	cr_assert(strstr(err, "line 2: longer than"), "%s", err);
	free(text);
	cr_assert_eq(config_load("/no/such/file.conf", &c, err, sizeof(err)), -1);
}
