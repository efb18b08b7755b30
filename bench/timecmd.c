/* timecmd.c: runs one command and records its wall time and peak resident set size.
 * Used by bench/compile_bench.sh instead of /usr/bin/time, whose %e has only 10 ms resolution.
 *
 * usage: timecmd -o FILE CMD [ARG...]
 * Writes "elapsed_s maxrss_kb cpu_s" to FILE: wall time from fork to exit (CLOCK_MONOTONIC, in
 * seconds with microseconds), the child's ru_maxrss from wait4 (the same number as GNU time's
 * %M) and its CPU time, user plus system (what a busy machine's other work does not add to). The command's stdin, stdout and stderr are left as they are.
 * Exits with the command's exit code, 128+N if signal N killed it, 127 if it could not start.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec start, end;
	struct rusage ru;
	int status;
	pid_t pid;

	if (argc < 4 || strcmp(argv[1], "-o") != 0) {
		fprintf(stderr, "usage: timecmd -o FILE CMD [ARG...]\n");
		return 2;
	}
	FILE *out = fopen(argv[2], "w");
	if (!out) {
		fprintf(stderr, "timecmd: %s: %s\n", argv[2], strerror(errno));
		return 2;
	}

	clock_gettime(CLOCK_MONOTONIC, &start);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "timecmd: fork: %s\n", strerror(errno));
		return 2;
	}
	if (pid == 0) {
		fclose(out);
		execvp(argv[3], argv + 3);
		fprintf(stderr, "timecmd: %s: %s\n", argv[3], strerror(errno));
		_exit(127);
	}
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "timecmd: wait4: %s\n", strerror(errno));
			return 2;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &end);

	double elapsed = (double)(end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9;
	double cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	             (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	fprintf(out, "%.6f %ld %.6f\n", elapsed, ru.ru_maxrss, cpu);
	if (fclose(out) != 0) {
		fprintf(stderr, "timecmd: %s: %s\n", argv[2], strerror(errno));
		return 2;
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
