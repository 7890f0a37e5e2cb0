/* Where results go: results/NAME-DATE.{json,dat,gp,svg,png}, or next to a named JSON file. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include "hv/bench/bench.h"

int bench_out_stem(char *buf, size_t len, const char *name, const char *json_path, time_t when)
{
	size_t n;
	if (json_path) {
		n = strlen(json_path);
		if (n > 5 && strcmp(json_path + n - 5, ".json") == 0)
			n -= 5;
		return snprintf(buf, len, "%.*s", (int)n, json_path) < (int)len ? 0 : -1;
	}
	struct tm tm;
	char day[16];
	strftime(day, sizeof(day), "%Y-%m-%d", localtime_r(&when, &tm));
	return snprintf(buf, len, "results/%s-%s", name, day) < (int)len ? 0 : -1;
}

int bench_make_parents(const char *path)
{
	char dir[BENCH_PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	for (char *p = dir + 1; (p = strchr(p, '/')); p++) {
		*p = 0;
		if (mkdir(dir, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return 0;
}

int bench_out_init(struct bench_out *o, const char *name, const char *json_path)
{
	char path[BENCH_PATH_MAX + 8];
	if (bench_out_stem(o->stem, sizeof(o->stem), name, json_path, time(NULL)) != 0) {
		fprintf(stderr, "bench %s: result path too long\n", name);
		return -1;
	}
	if (bench_make_parents(o->stem) != 0) {
		fprintf(stderr, "bench %s: cannot create the directory of %s: %s\n", name, o->stem, strerror(errno));
		return -1;
	}
	FILE *probe = fopen(bench_out_path(o, "json", path, sizeof(path)), "w");
	if (!probe) {
		fprintf(stderr, "bench %s: cannot write %s: %s\n", name, path, strerror(errno));
		return -1;
	}
	fclose(probe);
	return 0;
}

const char *bench_out_path(const struct bench_out *o, const char *ext, char *buf, size_t len)
{
	snprintf(buf, len, "%s.%s", o->stem, ext);
	return buf;
}

FILE *bench_out_open(const struct bench_out *o, const char *ext)
{
	char path[BENCH_PATH_MAX + 8];
	FILE *f = fopen(bench_out_path(o, ext, path, sizeof(path)), "w");
	if (!f)
		fprintf(stderr, "bench: cannot write %s: %s\n", path, strerror(errno));
	return f;
}

int bench_out_close(const struct bench_out *o, const char *ext, FILE *f)
{
	char path[BENCH_PATH_MAX + 8];
	int lost = ferror(f);
	if (fclose(f) != 0 || lost) {
		fprintf(stderr, "bench: cannot write %s: %s\n", bench_out_path(o, ext, path, sizeof(path)),
			lost ? "write error" : strerror(errno));
		return -1;
	}
	return 0;
}
