/* SPDX-License-Identifier: BSD-3-Clause */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_cycles.h>

#include "ctl.h"
#include "json.h"
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
	/* A partial line may be an SA request with its keys. */
	if (c->buf != NULL)
		explicit_bzero(c->buf, LG_CTL_LINE_MAX);
	free(c->buf);
	c->fd = -1;
	c->buf = NULL;
	c->len = 0;
	c->monitor = false;
	c->lost = 0;
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
	char body[1024], line[1100];
	int n;

	lg_json_escape(body, sizeof(body), msg);
	n = snprintf(line, sizeof(line), "{\"ok\":false,\"error\":\"%s\"}\n", body);
	send_all(fd, line, (size_t)n);
}


/* One latch as JSON; never anything secret (names, ids, counters). */
static void
latch_json(FILE *f, const struct lg_gw *gw, uint32_t pos, const struct lg_flow_key *k,
	   const struct lg_latch *l)
{
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
	int af = k->af == 6 ? AF_INET6 : AF_INET;
	uint32_t st = __atomic_load_n(&l->state, __ATOMIC_ACQUIRE);
	uint64_t hz = rte_get_tsc_hz(), now = rte_rdtsc();
	const char *sa = lg_gw_slot_name(gw, l->sa_slot);
	const struct lg_latch_cold *c = &gw->dp->latch->cold[pos];
	char peer[LG_JSON_STR_MAX(LG_ID_MAX)];

	lg_json_escape(peer, sizeof(peer), lg_gw_ident_name(gw, l->ident));

	inet_ntop(af, k->lo, a, sizeof(a));
	inet_ntop(af, k->hi, b, sizeof(b));
	fprintf(f, "{\"id\":%u,\"state\":\"%s\",\"proto\":%u,\"a\":\"%s\",\"a_port\":%u,"
		"\"b\":\"%s\",\"b_port\":%u,\"sa\":\"%s\",\"peer_id\":\"%s\",\"pset_out\":%u,"
		"\"pset_in\":%u,\"age_s\":%.1f,\"idle_s\":%.1f,\"drops\":%" PRIu64 "}", pos,
		lg_latch_state_name(st), k->proto, a, ntohs(k->port_lo),
		b, ntohs(k->port_hi), sa, peer, l->pset[0], l->pset[1],
		(double)(now - c->created_tsc) / (double)hz, (double)(now - l->last_tsc) / (double)hz,
		__atomic_load_n(&c->drops, __ATOMIC_RELAXED));
}

/* {"op":"latches","limit":N}: the first N live latches (default 1000). */
static void
op_latches(FILE *f, const struct lg_gw *gw, const struct lg_json *req)
{
	const struct lg_latch_table *t = gw->dp->latch;
	uint64_t limit = 1000, n = 0;
	uint32_t pos;

	const char *state = NULL, *peer = NULL, *sa = NULL;

	if (lg_json_u64(req, 0, "limit", UINT32_MAX, &limit) == -EINVAL)
		limit = 1000;
	if (lg_json_string(req, 0, "state", &state) == -EINVAL ||
	    lg_json_string(req, 0, "peer", &peer) == -EINVAL ||
	    lg_json_string(req, 0, "sa", &sa) == -EINVAL) {
		fprintf(f, "{\"ok\":false,\"error\":\"latches: state, peer and sa filters are"
			" strings\"}\n");
		return;
	}
	fprintf(f, "{\"ok\":true,\"op\":\"latches\",\"latches\":[");
	for (pos = 0; t != NULL && pos < t->slots && n < limit; pos++) {
		const struct lg_latch *l = &t->e[pos];
		uint32_t st = __atomic_load_n(&l->state, __ATOMIC_ACQUIRE);
		struct lg_flow_key k;

		if (st < LG_LATCH_LARVAL || st == LG_LATCH_DELETING || lg_latch_key(t, pos, &k) != 0)
			continue;
		/* Filters: state name (any case), peer identity, SA name. */
		if ((state != NULL && strcasecmp(state, lg_latch_state_name(st)) != 0) ||
		    (peer != NULL && strcmp(peer, lg_gw_ident_name(gw, l->ident)) != 0) ||
		    (sa != NULL && strcmp(sa, lg_gw_slot_name(gw, l->sa_slot)) != 0))
			continue;
		fprintf(f, "%s", n++ ? "," : "");
		latch_json(f, gw, pos, &k, l);
	}
	fprintf(f, "],\"count\":%" PRIu64 "}\n", n);
}

/* A 5-tuple from {"proto":P,"src":A,"sport":N,"dst":B,"dport":N}, normalised
 * like the dataplane's (ports 0 for protocols without them). */
static int
flow_of(const struct lg_json *req, struct lg_flow_key *fk)
{
	const struct lg_json_node *f = lg_json_get(req, 0, "flow");
	uint64_t proto, sp = 0, dp = 0;
	const char *src, *dst;
	union lg_key k;
	uint32_t fi;
	bool is6, rev;

	if (f == NULL || f->type != LG_JSON_OBJECT)
		return -1;
	fi = (uint32_t)(f - req->n);
	if (lg_json_u64(req, fi, "proto", 255, &proto) != 0 ||
	    lg_json_string(req, fi, "src", &src) != 0 || lg_json_string(req, fi, "dst", &dst) != 0 ||
	    lg_json_u64(req, fi, "sport", 65535, &sp) == -EINVAL ||
	    lg_json_u64(req, fi, "dport", 65535, &dp) == -EINVAL)
		return -1;
	memset(&k, 0, sizeof(k));
	is6 = strchr(src, ':') != NULL;
	if (is6 ? inet_pton(AF_INET6, src, k.k6.src) != 1 || inet_pton(AF_INET6, dst, k.k6.dst) != 1
		: inet_pton(AF_INET, src, &k.k4.src) != 1 || inet_pton(AF_INET, dst, &k.k4.dst) != 1)
		return -1;
	if (is6) {
		k.k6.proto = (uint8_t)proto;
		k.k6.sport = htons((uint16_t)sp);
		k.k6.dport = htons((uint16_t)dp);
	} else {
		k.k4.proto = (uint8_t)proto;
		k.k4.sport = htons((uint16_t)sp);
		k.k4.dport = htons((uint16_t)dp);
	}
	lg_flow_key_make(fk, &k, is6, &rev);
	return 0;
}

/* {"op":"latch-show","id":N} or {"op":"latch-show","flow":{...}}. */
static void
op_latch_show(FILE *f, int fd, const struct lg_gw *gw, const struct lg_json *req)
{
	const struct lg_latch_table *t = gw->dp->latch;
	const struct lg_flow_key *kp[1];
	struct lg_flow_key k;
	uint64_t id;
	int32_t pos[1];

	if (t == NULL) {
		reply_error(fd, "latching is off");
		return;
	}
	if (lg_json_u64(req, 0, "id", UINT32_MAX, &id) == 0) {
		if (id >= t->slots || lg_latch_key(t, (uint32_t)id, &k) != 0) {
			reply_error(fd, "latch-show: no latch with that id");
			return;
		}
		pos[0] = (int32_t)id;
	} else if (flow_of(req, &k) == 0) {
		kp[0] = &k;
		if (lg_latch_lookup_bulk(t, kp, 1, pos) == 0) {
			reply_error(fd, "latch-show: no latch for that flow");
			return;
		}
	} else {
		reply_error(fd, "latch-show: expected \"id\" or \"flow\":{proto,src,sport,dst,dport}");
		return;
	}
	fprintf(f, "{\"ok\":true,\"op\":\"latch-show\",\"latch\":");
	latch_json(f, gw, (uint32_t)pos[0], &k, &t->e[pos[0]]);
	fprintf(f, "}\n");
}

/* {"op":"latch-close","id":N}: administrative close (RFC 5660 §2.2),
 * LATCHING.md item 27: CLOSED, then removed after a grace period. */
static void
op_latch_close(int fd, struct lg_gw *gw, const struct lg_json *req)
{
	struct lg_latch_table *t = gw->dp->latch;
	struct lg_flow_key k;
	uint64_t id;
	uint32_t st;
	char r[160];
	int n;

	if (t == NULL) {
		reply_error(fd, "latching is off");
		return;
	}
	if (lg_json_u64(req, 0, "id", UINT32_MAX, &id) != 0 || id >= t->slots ||
	    lg_latch_key(t, (uint32_t)id, &k) != 0) {
		reply_error(fd, "latch-close: expected \"id\" of a live latch");
		return;
	}
	st = __atomic_load_n(&t->e[id].state, __ATOMIC_ACQUIRE);
	if ((st != LG_LATCH_ESTABLISHED && st != LG_LATCH_BROKEN && st != LG_LATCH_LARVAL) ||
	    lg_latch_remove(t, &k, st) != 0) {
		reply_error(fd, "latch-close: the latch is not open");
		return;
	}
	lg_gw_event(gw, &t->e[id], &k, (uint32_t)id, (uint8_t)st, LG_LATCH_CLOSED, LG_REASON_ADMIN);
	n = snprintf(r, sizeof(r), "{\"ok\":true,\"op\":\"latch-close\",\"id\":%" PRIu64
		     ",\"old_state\":\"%s\",\"reason\":\"ADMIN\"}\n", id, lg_latch_state_name(st));
	send_all(fd, r, (size_t)n);
}

/*
 * {"op":"sa-add","sa":{...}}, sa-replace (the same, by the SA's name),
 * {"op":"sa-delete","name":N}, and likewise for policies; {"op":"reload"}
 * re-reads the config file. The item's keys are the YAML config's
 * (conf/README.md). Each is a whole new config applied as a difference:
 * valid or refused as one, nothing changed on error.
 */
static void
op_change(int fd, struct lg_gw *gw, const struct lg_json *req, const char *line,
	  const char *op)
{
	static const struct { const char *op; enum lg_edit_kind kind; enum lg_edit_op eop; }
	ops[] = {
		{ "sa-add", LG_EDIT_SA, LG_EDIT_ADD },
		{ "sa-replace", LG_EDIT_SA, LG_EDIT_REPLACE },
		{ "sa-delete", LG_EDIT_SA, LG_EDIT_DELETE },
		{ "policy-add", LG_EDIT_POLICY, LG_EDIT_ADD },
		{ "policy-replace", LG_EDIT_POLICY, LG_EDIT_REPLACE },
		{ "policy-delete", LG_EDIT_POLICY, LG_EDIT_DELETE },
	};
	char err[LG_ERR_MAX], r[512];
	struct lg_change res;
	struct lg_conf *nc = NULL;
	const char *name = NULL;
	size_t i;
	int n;

	if (strcmp(op, "reload") == 0) {
		nc = lg_config_load(gw->conf->file, err, sizeof(err));
	} else {
		for (i = 0; i < sizeof(ops) / sizeof(ops[0]) && strcmp(ops[i].op, op) != 0; i++)
			;
		if (i == sizeof(ops) / sizeof(ops[0])) {
			reply_error(fd, "unknown op");
			return;
		}
		if (ops[i].eop == LG_EDIT_DELETE) {
			if (lg_json_string(req, 0, "name", &name) != 0) {
				reply_error(fd, "missing or invalid member: name (a string)");
				return;
			}
		} else {
			const char *member = ops[i].kind == LG_EDIT_SA ? "sa" : "policy";
			const struct lg_json_node *it = lg_json_get(req, 0, member);

			if (it == NULL || it->type != LG_JSON_OBJECT) {
				snprintf(err, sizeof(err), "missing or invalid member: %s (an object)",
					 member);
				reply_error(fd, err);
				return;
			}
			if (ops[i].eop == LG_EDIT_REPLACE &&
			    lg_json_string(req, (uint32_t)(it - req->n), "name", &name) != 0) {
				snprintf(err, sizeof(err), "missing or invalid member: %s.name", member);
				reply_error(fd, err);
				return;
			}
		}
		nc = lg_config_edit(gw->conf, ops[i].kind, ops[i].eop, line, strlen(line), name,
				    err, sizeof(err));
	}
	if (nc == NULL) {
		reply_error(fd, err);
		return;
	}
	if (lg_gw_apply(gw, nc, &res, err, sizeof(err)) != 0) {
		lg_config_free(nc);
		reply_error(fd, err);
		return;
	}
	n = snprintf(r, sizeof(r), "{\"ok\":true,\"op\":\"%s\",\"change\":%u,\"sas\":"
		     "{\"added\":%u,\"replaced\":%u,\"congruent\":%u,\"deleted\":%u},"
		     "\"spd_changed\":%s,\"routes_changed\":%s,\"broken\":%u,"
		     "\"apply_us\":%.1f}\n", op, res.id, res.sas_added, res.sas_replaced,
		     res.sas_congruent, res.sas_deleted, res.spd_changed ? "true" : "false",
		     res.routes_changed ? "true" : "false", res.broken,
		     (double)res.apply_ns / 1000.0);
	send_all(fd, r, (size_t)n);
}

/* Every op, and the members it takes besides "op" (space-separated);
 * anything else is refused. The "unknown op" reply is built from it. */
static const struct { const char *op; const char *members; } op_table[] = {
	{ "stats", "" }, { "version", "" }, { "latches", " limit state peer sa " },
	{ "latch-show", " id flow " }, { "latch-close", " id " },
	{ "sa-add", " sa " }, { "sa-replace", " sa " }, { "sa-delete", " name " },
	{ "policy-add", " policy " }, { "policy-replace", " policy " },
	{ "policy-delete", " name " }, { "reload", "" }, { "monitor", "" },
};

/* NULL when the request is fine, else the error reply's text in bad. */
static const char *
request_refused(const struct lg_json *req, const char *op, char *bad, size_t len)
{
	size_t i, n = 0;
	uint32_t ch;

	for (i = 0; i < sizeof(op_table) / sizeof(op_table[0]) && strcmp(op_table[i].op, op) != 0; i++)
		;
	if (i == sizeof(op_table) / sizeof(op_table[0])) {
		n = (size_t)snprintf(bad, len, "unknown op: expected");
		for (i = 0; i < sizeof(op_table) / sizeof(op_table[0]) && n < len; i++)
			n += (size_t)snprintf(bad + n, len - n, "%s %s", i ? "," : "", op_table[i].op);
		return bad;
	}
	for (ch = req->n[0].child; ch != 0; ch = req->n[ch].next) {
		const char *k = req->n[ch].key;
		char word[40];

		snprintf(word, sizeof(word), " %s ", k);
		if (strcmp(k, "op") != 0 && strstr(op_table[i].members, word) == NULL) {
			snprintf(bad, len, "unknown member for op %s", op);
			return bad;
		}
	}
	return NULL;
}

/* [C] the request being handled; its unescaped strings may hold keys */
static struct lg_json req;

static void
handle_req(struct lg_ctl_client *c, struct lg_gw *gw, const char *line)
{
	int fd = c->fd;
	const char *jerr, *opv;
	size_t joff;
	char why[320];
	static struct lg_totals t;
	char op[32];
	char *out = NULL;
	size_t len = 0;
	FILE *f;

	if (lg_json_parse(&req, line, strlen(line), &joff, &jerr) != 0) {
		snprintf(why, sizeof(why), "malformed request: %s at byte %zu", jerr, joff);
		reply_error(fd, why);
		return;
	}
	if (req.n[0].type != LG_JSON_OBJECT || lg_json_string(&req, 0, "op", &opv) != 0 ||
	    strlen(opv) >= sizeof(op)) {
		reply_error(fd, "malformed request: expected a JSON object with a string \"op\"");
		return;
	}
	snprintf(op, sizeof(op), "%s", opv);
	if (request_refused(&req, op, why, sizeof(why)) != NULL) {
		reply_error(fd, why);
		return;
	}
	if (strcmp(op, "version") == 0) {
		char r[128];
		int n = snprintf(r, sizeof(r),
				 "{\"ok\":true,\"op\":\"version\",\"version\":\"%s\"}\n", LG_VERSION);

		send_all(fd, r, (size_t)n);
		return;
	}
	if (strcmp(op, "latch-close") == 0) {
		op_latch_close(fd, gw, &req);
		return;
	}
	if (strcmp(op, "monitor") == 0) {
		static const char ok[] = "{\"ok\":true,\"op\":\"monitor\"}\n";

		c->monitor = true;
		send_all(fd, ok, sizeof(ok) - 1);
		return;
	}
	if (strncmp(op, "sa-", 3) == 0 || strncmp(op, "policy-", 7) == 0 ||
	    strcmp(op, "reload") == 0) {
		op_change(fd, gw, &req, line, op);
		return;
	}
	f = open_memstream(&out, &len);
	if (f == NULL) {
		reply_error(fd, "out of memory");
		return;
	}
	if (strcmp(op, "latches") == 0 || strcmp(op, "latch-show") == 0) {
		if (strcmp(op, "latches") == 0)
			op_latches(f, gw, &req);
		else
			op_latch_show(f, fd, gw, &req);
		fclose(f);
		send_all(fd, out, len);
		free(out);
		return;
	}
	lg_stats_collect(gw, &t);
	fprintf(f, "{\"ok\":true,\"op\":\"stats\",\"stats\":");
	lg_stats_json(gw, f, &t);
	fclose(f);
	/* lg_stats_json ends with a newline; close the object before it. */
	if (len > 0 && out[len - 1] == '\n')
		len--;
	send_all(fd, out, len);
	send_all(fd, "}\n", 2);
	free(out);
}

static void
handle_line(struct lg_ctl_client *c, struct lg_gw *gw, const char *line)
{
	handle_req(c, gw, line);
	explicit_bzero(req.text, sizeof(req.text));
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
read_client(struct lg_ctl_client *c, struct lg_gw *gw)
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
			handle_line(c, gw, c->buf);
		/* An SA request carries keys: leave no copy of a handled line. */
		memmove(c->buf, nl + 1, c->len - used);
		explicit_bzero(c->buf + c->len - used, used);
		c->len -= used;
		c->buf[c->len] = '\0';
	}
	if (c->len == LG_CTL_LINE_MAX - 1) {
		reply_error(c->fd, "request too long");
		drop_client(c);
	}
}

void
lg_ctl_poll(struct lg_ctl *ctl, struct lg_gw *gw, int timeout_ms)
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

void
lg_ctl_broadcast(struct lg_ctl *ctl, const char *line, size_t len)
{
	int i;

	for (i = 0; i < LG_CTL_CLIENTS; i++) {
		struct lg_ctl_client *c = &ctl->c[i];
		ssize_t w;

		if (c->fd < 0 || !c->monitor)
			continue;
		w = send(c->fd, line, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w == (ssize_t)len)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			c->lost++;
		else
			drop_client(c);   /* gone, or a torn line: the stream is over */
	}
}
