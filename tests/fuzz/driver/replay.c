/*
 * Replays inputs through a fuzz harness's LLVMFuzzerTestOneInput, built
 * with plain gcc (and with the sanitizers) for `make test`:
 *   replay DIR|FILE...   every file in each DIR (sorted), and each FILE
 * Prints the count; a crash or sanitizer report ends it abnormally.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t size = 0, cap = 0, n;

	if (!f) {
		perror(path);
		return -1;
	}
	do {
		if (size == cap && !(buf = realloc(buf, cap = cap ? 2 * cap : 65536))) {
			fclose(f);
			return -1;
		}
		size += n = fread(buf + size, 1, cap - size, f);
	} while (n);
	fclose(f);
	/* An exact-size copy, so that reads past the end are caught. */
	uint8_t *in = malloc(size ? size : 1);
	memcpy(in, buf, size);
	free(buf);
	LLVMFuzzerTestOneInput(in, size);
	free(in);
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
	unsigned long count = 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		struct dirent **names;
		if (stat(argv[i], &st)) {
			perror(argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (replay_file(argv[i]))
				return 1;
			count++;
			continue;
		}
		int n = scandir(argv[i], &names, NULL, by_name);
		for (int k = 0; k < n; k++) {
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", argv[i], names[k]->d_name);
			if (!stat(path, &st) && S_ISREG(st.st_mode)) {
				if (replay_file(path))
					return 1;
				count++;
			}
			free(names[k]);
		}
		free(n >= 0 ? names : NULL);
	}
	printf("%lu inputs replayed\n", count);
	return 0;
}
