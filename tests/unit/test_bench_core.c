#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hv/bench/bench.h"

Test(bench_stats, odd_count)
{
	const double v[] = { 5, 1, 3 };
	struct bench_stats st;
	cr_assert(bench_stats(v, 3, &st));
	cr_assert_eq(st.n, 3);
	cr_assert_float_eq(st.min, 1, 1e-12);
	cr_assert_float_eq(st.median, 3, 1e-12);
	cr_assert_float_eq(st.max, 5, 1e-12);
	cr_assert_float_eq(st.spread, 4.0 / 3, 1e-12);
	cr_assert_float_eq(v[0], 5, 0, "the samples keep their order");
}

Test(bench_stats, even_count)
{
	const double v[] = { 4, 10, 1, 2 };
	struct bench_stats st;
	cr_assert(bench_stats(v, 4, &st));
	cr_assert_float_eq(st.min, 1, 1e-12);
	cr_assert_float_eq(st.median, 3, 1e-12);
	cr_assert_float_eq(st.max, 10, 1e-12);
}

Test(bench_stats, one_sample)
{
	const double v[] = { 7.5 };
	struct bench_stats st;
	cr_assert(bench_stats(v, 1, &st));
	cr_assert_float_eq(st.min, 7.5, 0);
	cr_assert_float_eq(st.median, 7.5, 0);
	cr_assert_float_eq(st.max, 7.5, 0);
	cr_assert_float_eq(st.spread, 0, 0);
}

Test(bench_stats, none)
{
	struct bench_stats st = { .median = 1 };
	cr_assert_not(bench_stats(NULL, 0, &st));
	cr_assert_eq(st.n, 0);
	cr_assert_float_eq(st.median, 0, 0);
}

/* Runs fn on a writer over memory and returns what it wrote (to free). */
static char *json_of(void (*fn)(struct json *j))
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct json j;
	json_start(&j, f);
	fn(&j);
	fclose(f);
	return text;
}

static void escapes(struct json *j)
{
	json_object(j, NULL, 0);
	json_str(j, "s", "say \"hi\" \\ path\\n\n\t\r\b\f\x01\x1f\x7f é");
	json_int(j, "a\"b\\", -3);
	json_end(j);
}

Test(json, escaping_of_strings_and_keys)
{
	char *t = json_of(escapes);
	cr_assert_str_eq(t, "{\"s\": \"say \\\"hi\\\" \\\\ path\\\\n\\n\\t\\r\\b\\f\\u0001\\u001f\x7f é\", "
			    "\"a\\\"b\\\\\": -3}\n");
	free(t);
}

static void nesting(struct json *j)
{
	json_array(j, NULL, 1);
	json_object(j, NULL, 0);
	json_num(j, "x", 1.23456, 4);
	json_num(j, "nan", NAN, 4);
	json_uint(j, "big", 18446744073709551615ull);
	json_bool(j, "t", 1);
	json_null(j, "n");
	json_array(j, "v", 0);
	json_num(j, NULL, 1, 1);
	json_num(j, NULL, 2, 1);
	json_end(j);
	json_array(j, "empty", 1);
	json_end(j);
	json_end(j);
	json_object(j, NULL, 0);
	json_end(j);
	json_end(j);
}

Test(json, nesting_numbers_and_layout)
{
	char *t = json_of(nesting);
	cr_assert_str_eq(t, "[\n  {\"x\": 1.2346, \"nan\": null, \"big\": 18446744073709551615, \"t\": true, \"n\": null, "
			    "\"v\": [1.0, 2.0], \"empty\": []},\n  {}\n]\n");
	free(t);
}

static time_t local_day(int y, int m, int d)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = 12, .tm_isdst = -1 };
	return mktime(&tm);
}

Test(bench_out, default_stem_is_results_name_date)
{
	char buf[64];
	cr_assert_eq(bench_out_stem(buf, sizeof(buf), "tlb", NULL, local_day(2026, 11, 28)), 0);
	cr_assert_str_eq(buf, "results/tlb-2026-11-28");
}

Test(bench_out, named_json_gives_the_stem)
{
	char buf[64];
	cr_assert_eq(bench_out_stem(buf, sizeof(buf), "blk", "/tmp/x/run.json", 0), 0);
	cr_assert_str_eq(buf, "/tmp/x/run");
	cr_assert_eq(bench_out_stem(buf, sizeof(buf), "blk", "run", 0), 0);
	cr_assert_str_eq(buf, "run");
	cr_assert_eq(bench_out_stem(buf, sizeof(buf), "blk", ".json", 0), 0);
	cr_assert_str_eq(buf, ".json", "a bare .json has no stem to strip to");
	cr_assert_neq(bench_out_stem(buf, 8, "blk", "/a/long/path.json", 0), 0, "too long for the buffer");
}

Test(bench_out, paths_and_directory)
{
	char dir[] = "/tmp/beyond-bench-unit.XXXXXX", json[128], path[BENCH_PATH_MAX + 8];
	struct bench_out o;
	cr_assert_not_null(mkdtemp(dir));
	snprintf(json, sizeof(json), "%s/sub/dir/r.json", dir);
	cr_assert_eq(bench_out_init(&o, "tlb", json), 0, "creates the directories");
	cr_assert_str_eq(bench_out_path(&o, "svg", path, sizeof(path)) + strlen(dir), "/sub/dir/r.svg");
	FILE *f = bench_out_open(&o, "dat");
	cr_assert_not_null(f);
	fputs("1 2\n", f);
	cr_assert_eq(bench_out_close(&o, "dat", f), 0);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	cr_assert_eq(system(path), 0);
}
