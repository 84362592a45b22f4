/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "stats.h"

static int
make_parent(const char *path)
{
	char dir[sizeof(((struct lg_ctl *)0)->path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int
lg_ctl_open(struct lg_ctl *ctl, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int i, rc;

	memset(ctl, 0, sizeof(*ctl));
	ctl->lfd = -1;
	for (i = 0; i < LG_CTL_CLIENTS; i++)
		ctl->c[i].fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	snprintf(ctl->path, sizeof(ctl->path), "%s", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	rc = make_parent(path);
	/* A socket left by a previous run that died: replace it. */
	if (rc == 0 && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	ctl->lfd = rc ? -1 : socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ctl->lfd < 0 ||
	    bind(ctl->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    chmod(path, 0600) != 0 || listen(ctl->lfd, 8) != 0) {
		snprintf(err, errlen, "control socket %s: %s", path, strerror(rc ? -rc : errno));
		if (ctl->lfd >= 0)
			close(ctl->lfd);
		ctl->lfd = -1;
		return -1;
	}
	return 0;
}

static void
drop_client(struct lg_ctl_client *c)
{
	close(c->fd);
	free(c->buf);
	c->fd = -1;
	c->buf = NULL;
	c->len = 0;
}

static void
send_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };

			if (poll(&p, 1, 1000) <= 0)
				return;
			continue;
		}
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void
reply_error(int fd, const char *msg)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "{\"ok\":false,\"error\":\"%s\"}\n", msg);

	send_all(fd, line, (size_t)n);
}

/* The value of "op" in a one-line JSON object, or NULL. Full JSON requests
 * come with the runtime-change operations; today only "op" is read. */
static int
request_op(const char *line, char *op, size_t oplen)
{
	const char *p = line, *q;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '{' || strrchr(p, '}') == NULL)
		return -1;
	p = strstr(p, "\"op\"");
	if (p == NULL)
		return -1;
	p += 4;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p++ != ':')
		return -1;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p++ != '"' || (q = strchr(p, '"')) == NULL || (size_t)(q - p) >= oplen)
		return -1;
	memcpy(op, p, (size_t)(q - p));
	op[q - p] = '\0';
	return 0;
}

static void
handle_line(int fd, const struct lg_gw *gw, const char *line)
{
	static struct lg_totals t;
	char op[32];
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	if (request_op(line, op, sizeof(op)) != 0) {
		reply_error(fd, "malformed request: expected a JSON object with a string \\\"op\\\"");
		return;
	}
	if (strcmp(op, "version") == 0) {
		char r[128];
		int n = snprintf(r, sizeof(r),
				 "{\"ok\":true,\"op\":\"version\",\"version\":\"%s\"}\n", LG_VERSION);

		send_all(fd, r, (size_t)n);
		return;
	}
	if (strcmp(op, "stats") != 0) {
		reply_error(fd, "unknown op: expected stats or version");
		return;
	}
	f = open_memstream(&out, &len);
	if (f == NULL) {
		reply_error(fd, "out of memory");
		return;
	}
	lg_stats_collect(gw, &t);
	fprintf(f, "{\"ok\":true,\"op\":\"stats\",\"stats\":");
	lg_stats_json(gw, f, &t, 1);
	fclose(f);
	/* lg_stats_json ends with a newline; close the object before it. */
	if (len > 0 && out[len - 1] == '\n')
		len--;
	send_all(fd, out, len);
	send_all(fd, "}\n", 2);
	free(out);
}

static int
peer_allowed(int fd)
{
	struct ucred cr;
	socklen_t l = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) != 0)
		return 0;
	return cr.uid == 0 || cr.uid == geteuid();
}

static void
accept_clients(struct lg_ctl *ctl)
{
	int fd, i;

	while ((fd = accept4(ctl->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (!peer_allowed(fd)) {
			reply_error(fd, "permission denied: uid not allowed");
			close(fd);
			continue;
		}
		for (i = 0; i < LG_CTL_CLIENTS && ctl->c[i].fd >= 0; i++)
			;
		if (i == LG_CTL_CLIENTS || (ctl->c[i].buf = malloc(LG_CTL_LINE_MAX)) == NULL) {
			reply_error(fd, "too many clients");
			close(fd);
			continue;
		}
		ctl->c[i].fd = fd;
		ctl->c[i].len = 0;
	}
}

static void
read_client(struct lg_ctl_client *c, const struct lg_gw *gw)
{
	ssize_t r;
	char *nl;

	r = recv(c->fd, c->buf + c->len, LG_CTL_LINE_MAX - 1 - c->len, 0);
	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
		drop_client(c);
		return;
	}
	if (r < 0)
		return;
	c->len += (size_t)r;
	c->buf[c->len] = '\0';
	while ((nl = memchr(c->buf, '\n', c->len)) != NULL) {
		size_t used = (size_t)(nl - c->buf) + 1;

		*nl = '\0';
		if (nl > c->buf)
			handle_line(c->fd, gw, c->buf);
		memmove(c->buf, nl + 1, c->len - used);
		c->len -= used;
		c->buf[c->len] = '\0';
	}
	if (c->len == LG_CTL_LINE_MAX - 1) {
		reply_error(c->fd, "request too long");
		drop_client(c);
	}
}

void
lg_ctl_poll(struct lg_ctl *ctl, const struct lg_gw *gw, int timeout_ms)
{
	struct pollfd p[LG_CTL_CLIENTS + 1];
	int map[LG_CTL_CLIENTS + 1];
	int i, n = 0;

	if (ctl->lfd < 0) {
		poll(NULL, 0, timeout_ms);
		return;
	}
	p[n].fd = ctl->lfd;
	p[n++].events = POLLIN;
	for (i = 0; i < LG_CTL_CLIENTS; i++) {
		if (ctl->c[i].fd >= 0) {
			map[n] = i;
			p[n].fd = ctl->c[i].fd;
			p[n++].events = POLLIN;
		}
	}
	if (poll(p, (nfds_t)n, timeout_ms) <= 0)
		return;
	for (i = 1; i < n; i++) {
		if (p[i].revents)
			read_client(&ctl->c[map[i]], gw);
	}
	if (p[0].revents & POLLIN)
		accept_clients(ctl);
}

void
lg_ctl_close(struct lg_ctl *ctl)
{
	int i;

	for (i = 0; i < LG_CTL_CLIENTS; i++) {
		if (ctl->c[i].fd >= 0)
			drop_client(&ctl->c[i]);
	}
	if (ctl->lfd >= 0) {
		close(ctl->lfd);
		unlink(ctl->path);
	}
	ctl->lfd = -1;
}
