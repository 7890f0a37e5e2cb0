/*
 * Plots through gnuplot, run one way: fork/exec with its stdout and stderr
 * captured, so its warnings never land in a benchmark's output; a failure
 * is reported in one line carrying gnuplot's last complaint.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "hv/bench/bench.h"

/* Runs gnuplot on script; its exit status (127: not installed), or -1. The tail of what it said lands in said[len > 256]. */
static int gnuplot(const char *script, char *said, size_t len)
{
	int pipefd[2];
	said[0] = 0;
	if (pipe2(pipefd, O_CLOEXEC) != 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (null < 0 || dup2(null, 0) < 0 || dup2(pipefd[1], 1) < 0 || dup2(pipefd[1], 2) < 0)
			_exit(126);
		execlp("gnuplot", "gnuplot", script, (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	size_t have = 0;
	ssize_t n;
	char buf[256]; /* smaller than said */
	while (pid > 0 && ((n = read(pipefd[0], buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))) {
		if (n < 0)
			continue;
		if (have + n > len - 1) { /* keep the tail: the complaint that ended it */
			size_t drop = have + n - (len - 1);
			memmove(said, said + drop, have - drop);
			have -= drop;
		}
		memcpy(said + have, buf, n);
		have += n;
	}
	said[have] = 0;
	close(pipefd[0]);
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* The last non-empty line of text, in place. */
static const char *last_line(char *text)
{
	size_t n = strlen(text);
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
		text[--n] = 0;
	char *nl = strrchr(text, '\n');
	return nl ? nl + 1 : text;
}

int bench_plot(const struct bench_out *o, unsigned width, unsigned height,
	       void (*body)(FILE *gp, const char *dat, void *ctx), void *ctx)
{
	static const char *const terminal[] = { "svg", "pngcairo" }, *const ext[] = { "svg", "png" };
	char dat[BENCH_PATH_MAX + 8], script[BENCH_PATH_MAX + 8], said[1024];
	FILE *gp = bench_out_open(o, "gp");
	if (!gp)
		return -1;
	bench_out_path(o, "dat", dat, sizeof(dat));
	for (int i = 0; i < 2; i++) {
		fprintf(gp, "set terminal %s size %u,%u\nset output '%s.%s'\n", terminal[i], width, height, o->stem,
			ext[i]);
		body(gp, dat, ctx);
	}
	if (bench_out_close(o, "gp", gp) != 0)
		return -1;
	int st = gnuplot(bench_out_path(o, "gp", script, sizeof(script)), said, sizeof(said));
	if (st != 0) {
		fprintf(stderr, "bench: no plot: %s; the data is in %s\n",
			st == 127 ? "gnuplot is not installed (apt-get install gnuplot-nox)"
			: said[0] ? last_line(said) : "gnuplot failed", dat);
		return -1;
	}
	printf("plot: %s.svg %s.png\n", o->stem, o->stem);
	return 0;
}
