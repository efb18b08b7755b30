/* graphviz.c: lays out a DOT graph with Graphviz's `dot` program, run as a child process with a
 * deadline (engine/include/meshdot.h). Why a program and not libgvc: docs/architecture.md
 * ("The picture of the mesh"). */
#define _GNU_SOURCE /* pipe2 */
#include "alloc.h"
#include "meshdot.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_OUTPUT (256u << 20) /* an SVG larger than this is not a picture anyone reads */

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Appends n bytes to a growable buffer; -1 when out of memory or past MAX_OUTPUT. */
static int grow_append(char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t ncap = *cap ? *cap : 65536;
		while (ncap < *len + n + 1)
			ncap *= 2;
		if (ncap > MAX_OUTPUT + 1)
			return -1;
		char *nb = mp_realloc(*buf, ncap);
		if (!nb)
			return -1;
		*buf = nb;
		*cap = ncap;
	}
	memcpy(*buf + *len, p, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

const char *mp_graphviz_program(void)
{
	const char *p = getenv("MESHPOL_DOT");
	return p && *p ? p : "dot";
}

int mp_graphviz_render(const char *dot, size_t len, const char *format, int timeout_ms, char **out,
                       size_t *outlen, char *err, size_t errlen)
{
	/* stdin is a socket so that a child gone early is EPIPE from send(MSG_NOSIGNAL), never a
	 * SIGPIPE that would end this process */
	int in[2] = {-1, -1}, outp[2] = {-1, -1}, errp[2] = {-1, -1}, rc = -1, spawned = 0;
	char tflag[32], msg[512] = "";
	size_t msglen = 0, cap = 0, sent = 0;
	pid_t pid = -1;
	posix_spawn_file_actions_t fa;
	int fa_ok = 0;
	*out = NULL;
	*outlen = 0;
	snprintf(tflag, sizeof(tflag), "-T%s", format);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) < 0 ||
	    pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "cannot run %s: %s", mp_graphviz_program(), strerror(errno));
		goto out;
	}
	if (posix_spawn_file_actions_init(&fa) != 0) {
		snprintf(err, errlen, "cannot run %s: out of memory", mp_graphviz_program());
		goto out;
	}
	fa_ok = 1;
	posix_spawn_file_actions_adddup2(&fa, in[1], 0);
	posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	char *argv[] = {(char *)mp_graphviz_program(), tflag, NULL};
	int e = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	if (e) {
		snprintf(err, errlen, "cannot run %s (Graphviz): %s", argv[0], strerror(e));
		goto out;
	}
	spawned = 1;
	close(in[1]);
	close(outp[1]);
	close(errp[1]);
	in[1] = outp[1] = errp[1] = -1;
	fcntl(in[0], F_SETFL, O_NONBLOCK);
	long long deadline = now_ms() + timeout_ms;
	int out_open = 1, err_open = 1;
	if (!len) {
		close(in[0]);
		in[0] = -1;
	}
	while (out_open || err_open) {
		struct pollfd pf[3] = {{.fd = outp[0], .events = POLLIN},
		                       {.fd = errp[0], .events = POLLIN},
		                       {.fd = in[0], .events = POLLOUT}};
		pf[0].fd = out_open ? outp[0] : -1;
		pf[1].fd = err_open ? errp[0] : -1;
		long long left = deadline - now_ms();
		if (left <= 0) {
			snprintf(err, errlen,
			         "%s did not finish within %d s: the graph is too large "
			         "to lay out",
			         argv[0], timeout_ms / 1000);
			goto out;
		}
		int n = poll(pf, 3, (int)(left > 1000 ? 1000 : left));
		if (n < 0 && errno != EINTR) {
			snprintf(err, errlen, "waiting for %s: %s", argv[0], strerror(errno));
			goto out;
		}
		if (n <= 0)
			continue;
		if (in[0] >= 0 && (pf[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t w = send(in[0], dot + sent, len - sent, MSG_NOSIGNAL);
			if (w > 0)
				sent += (size_t)w;
			if ((w < 0 && errno != EAGAIN && errno != EINTR) || sent == len) {
				close(in[0]); /* end of input, or the child stopped reading */
				in[0] = -1;
			}
		}
		for (int k = 0; k < 2; k++) {
			if (!(pf[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			char chunk[65536];
			ssize_t r = read(pf[k].fd, chunk, sizeof(chunk));
			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (r <= 0) {
				*(k ? &err_open : &out_open) = 0;
			} else if (k == 0 && grow_append(out, outlen, &cap, chunk, (size_t)r) < 0) {
				snprintf(err, errlen,
				         "%s: its output is too large (over %u MiB) or "
				         "out of memory",
				         argv[0], MAX_OUTPUT >> 20);
				goto out;
			} else if (k == 1 && msglen + 1 < sizeof(msg)) {
				size_t take = (size_t)r < sizeof(msg) - msglen - 1
				                  ? (size_t)r
				                  : sizeof(msg) - msglen - 1;
				memcpy(msg + msglen, chunk, take);
				msglen += take;
				msg[msglen] = '\0';
			}
		}
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	spawned = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || !*out) {
		for (char *p = msg; *p; p++) /* one line of the child's words, no control bytes */
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = ' ';
		if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
			snprintf(err, errlen, "cannot run %s (Graphviz): not found", argv[0]);
		else
			snprintf(err, errlen, "%s failed (%s %d)%s%.300s", argv[0],
			         WIFEXITED(status) ? "exit" : "signal",
			         WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
			         *msg ? ": " : "", msg);
		goto out;
	}
	rc = 0;
out:
	if (spawned) { /* gave up on it: it must not outlive the call */
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	for (int k = 0; k < 2; k++) {
		if (in[k] >= 0)
			close(in[k]);
		if (outp[k] >= 0)
			close(outp[k]);
		if (errp[k] >= 0)
			close(errp[k]);
	}
	if (rc < 0) {
		mp_free(*out);
		*out = NULL;
		*outlen = 0;
	}
	return rc;
}
