/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latchctl: the control CLI. Sends one JSON request line to the gateway's
 * control socket and prints the reply, as indented text by default or as
 * the raw JSON line with --json. The gateway never puts key material in a
 * reply, so neither can this.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/run/latchgate/control.sock"
#define REPLY_MAX (1u << 22)
#define REQ_MAX 65536    /* the gateway's LG_CTL_LINE_MAX */

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: latchctl [-s SOCKET] [--json] COMMAND [ARG...]\n"
		"commands:\n"
		"  stats             port, SA, drop, latch and lcore counters of the running gateway\n"
		"  latches [LIMIT] [state=STATE] [peer=ID] [sa=NAME]\n"
		"                    the live latches (default the first 1000): flow, state, SA,\n"
		"                    peer; filtered by state (established, broken, ...), peer\n"
		"                    identity or SA name\n"
		"  latch-show ID | latch-show PROTO SRC SPORT DST DPORT\n"
		"                    one latch, by id or by its flow (either direction)\n"
		"  latch-close ID    close a latch by its id (administrative close, RFC 5660 §2.2)\n"
		"  sa-add FILE       add an SA; FILE (or - for stdin) holds it as one JSON object\n"
		"                    with the config's keys (conf/README.md), keys included\n"
		"  sa-replace FILE   replace the SA of that name (a rekey): congruent flows stay,\n"
		"                    the others break first (latch-broken notifications)\n"
		"  sa-delete NAME    delete an SA no policy uses\n"
		"  policy-add FILE | policy-replace FILE | policy-delete NAME\n"
		"                    the same for SPD entries\n"
		"  reload            re-read the config file and apply what changed\n"
		"  monitor [COUNT]   stream latch events (broken, closed, ...); stop after COUNT\n"
		"  version           the gateway's version\n"
		"options:\n"
		"  -s, --socket PATH   control socket (default " DEFAULT_SOCKET ")\n"
		"  -j, --json          print the reply as one JSON line\n"
		"  -h, --help          this text\n");
}

static int
connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "latchctl: socket path too long\n");
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "latchctl: cannot connect to %s: %s (is latchgate running?)\n",
			path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static char *
read_line(int fd)
{
	char *buf = malloc(REPLY_MAX);
	size_t len = 0;
	ssize_t r;

	if (buf == NULL)
		return NULL;
	while (len < REPLY_MAX - 1 && (r = recv(fd, buf + len, REPLY_MAX - 1 - len, 0)) > 0) {
		len += (size_t)r;
		if (memchr(buf + len - (size_t)r, '\n', (size_t)r) != NULL)
			break;
	}
	buf[len] = '\0';
	if (len == 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

static void
indent(int depth)
{
	printf("%*s", depth * 2, "");
}

/*
 * Render JSON as "key: value" lines, nesting by indentation; arrays of
 * objects print one object per block. Input is the gateway's own output,
 * but the renderer only walks characters and never trusts the structure.
 */
static void
render(const char *s)
{
	int depth = 0, in_str = 0, line_open = 0;

	for (; *s && *s != '\n'; s++) {
		char ch = *s;

		if (in_str) {
			if (ch == '\\' && s[1]) {
				putchar(*++s);
				continue;
			}
			if (ch == '"')
				in_str = 0;
			else
				putchar(ch);
			continue;
		}
		switch (ch) {
		case '"':
			if (!line_open) {
				indent(depth);
				line_open = 1;
			}
			in_str = 1;
			break;
		case ':':
			printf(": ");
			break;
		case '{': case '[':
			if (line_open)
				putchar('\n');
			line_open = 0;
			depth++;
			break;
		case '}': case ']':
			if (line_open)
				putchar('\n');
			line_open = 0;
			depth--;
			if (ch == '}' && s[1] == ',' && s[2] == '{')
				putchar('\n');
			break;
		case ',':
			if (line_open)
				putchar('\n');
			line_open = 0;
			break;
		default:
			if (!line_open) {
				indent(depth);
				line_open = 1;
			}
			putchar(ch);
		}
	}
	if (line_open)
		putchar('\n');
}

/* latch-show PROTO SRC SPORT DST DPORT; PROTO is tcp, udp, icmp, icmp6 or
 * a number. Addresses are checked by the gateway. */
static int
flow_request(char *req, size_t len, char *const a[5])
{
	static const struct { const char *name; int num; } protos[] = {
		{ "tcp", 6 }, { "udp", 17 }, { "icmp", 1 }, { "icmp6", 58 },
	};
	unsigned long p = 256, sp, dp;
	char *end;
	size_t i;

	for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (strcmp(a[0], protos[i].name) == 0)
			p = (unsigned long)protos[i].num;
	if (p == 256 && ((p = strtoul(a[0], &end, 10)) > 255 || *end != '\0'))
		return -1;
	sp = strtoul(a[2], &end, 10);
	if (*end != '\0' || sp > 65535)
		return -1;
	dp = strtoul(a[4], &end, 10);
	if (*end != '\0' || dp > 65535)
		return -1;
	for (i = 1; i < 5; i += 2)
		if (strpbrk(a[i], "\"\\") != NULL || strlen(a[i]) > 45)
			return -1;
	return snprintf(req, len, "{\"op\":\"latch-show\",\"flow\":{\"proto\":%lu,\"src\":\"%s\","
			"\"sport\":%lu,\"dst\":\"%s\",\"dport\":%lu}}\n", p, a[1], sp, a[3], dp);
}

/* A name or identity for a JSON string: no quotes, escapes or controls. */
static int
plain(const char *v, size_t max)
{
	size_t n = strlen(v);

	if (n == 0 || n >= max)
		return 0;
	for (; *v; v++)
		if (*v == '"' || *v == '\\' || (unsigned char)*v < 0x20)
			return 0;
	return 1;
}

/*
 * The item for sa-add/-replace and policy-add/-replace: one JSON object
 * with the config's keys, from FILE or "-" (stdin). Read here rather than
 * given in argv, where every user could read the keys (ps). Line breaks
 * become spaces: the request is one line (a raw newline is not valid
 * inside a JSON string anyway).
 */
static int
item_request(char *req, size_t len, const char *op, const char *member, const char *file)
{
	FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
	int n = snprintf(req, len, "{\"op\":\"%s\",\"%s\":", op, member);
	size_t r, i;

	if (f == NULL) {
		fprintf(stderr, "latchctl: %s: %s\n", file, strerror(errno));
		return -2;
	}
	r = fread(req + n, 1, len - (size_t)n - 3, f);
	if (f != stdin)
		fclose(f);
	if (r == len - (size_t)n - 3) {
		fprintf(stderr, "latchctl: %s: too long for one request\n", file);
		explicit_bzero(req, len);
		return -2;
	}
	for (i = (size_t)n; i < (size_t)n + r; i++)
		if (req[i] == '\n' || req[i] == '\r')
			req[i] = ' ';
	memcpy(req + n + r, "}\n", 3);
	return n + (int)r + 2;
}

/* The JSON request line for a command; -1 if unknown or an argument is
 * bad, -2 when the reason was already printed. */
static int
build_request(char *req, size_t len, const char *cmd, int argc, char *const argv[])
{
	const char *arg = argc > 0 ? argv[0] : NULL;
	unsigned long long v = 0;
	char *end;
	int n, i;

	if (strcmp(cmd, "latches") == 0) {
		/* latches [LIMIT] [state=S] [peer=ID] [sa=NAME] */
		n = snprintf(req, len, "{\"op\":\"latches\"");
		for (i = 0; i < argc; i++) {
			const char *eq = strchr(argv[i], '=');

			if (eq == NULL) {
				v = strtoull(argv[i], &end, 10);
				if (argv[i][0] < '0' || argv[i][0] > '9' || *end != '\0')
					return -1;
				n += snprintf(req + n, len - (size_t)n, ",\"limit\":%llu", v);
			} else if ((strncmp(argv[i], "state=", 6) == 0 ||
				    strncmp(argv[i], "peer=", 5) == 0 ||
				    strncmp(argv[i], "sa=", 3) == 0) && plain(eq + 1, 128)) {
				n += snprintf(req + n, len - (size_t)n, ",\"%.*s\":\"%s\"",
					      (int)(eq - argv[i]), argv[i], eq + 1);
			} else {
				return -1;
			}
		}
		return n + snprintf(req + n, len - (size_t)n, "}\n");
	}
	if (argc > 1)
		return -1;
	if ((strcmp(cmd, "stats") == 0 || strcmp(cmd, "version") == 0 ||
	     strcmp(cmd, "reload") == 0) && arg == NULL)
		return snprintf(req, len, "{\"op\":\"%s\"}\n", cmd);
	if ((strcmp(cmd, "sa-delete") == 0 || strcmp(cmd, "policy-delete") == 0) && arg != NULL)
		return plain(arg, 32) ? snprintf(req, len, "{\"op\":\"%s\",\"name\":\"%s\"}\n",
						 cmd, arg) : -1;
	if ((strcmp(cmd, "sa-add") == 0 || strcmp(cmd, "sa-replace") == 0) && arg != NULL)
		return item_request(req, len, cmd, "sa", arg);
	if ((strcmp(cmd, "policy-add") == 0 || strcmp(cmd, "policy-replace") == 0) && arg != NULL)
		return item_request(req, len, cmd, "policy", arg);
	if (arg != NULL) {
		v = strtoull(arg, &end, 10);
		if (*arg < '0' || *arg > '9' || *end != '\0')
			return -1;
	}
	if (strcmp(cmd, "monitor") == 0)
		return snprintf(req, len, "{\"op\":\"monitor\"}\n");
	if (strcmp(cmd, "latch-show") == 0 && arg != NULL)
		return snprintf(req, len, "{\"op\":\"latch-show\",\"id\":%llu}\n", v);
	if (strcmp(cmd, "latch-close") == 0 && arg != NULL)
		return snprintf(req, len, "{\"op\":\"latch-close\",\"id\":%llu}\n", v);
	return -1;
}

/* Stream events until COUNT of them (0 = until the gateway goes away). */
static int
monitor(int fd, unsigned long long count, int json)
{
	FILE *in = fdopen(fd, "r");
	char *line = NULL;
	size_t cap = 0;
	unsigned long long seen = 0;
	int first = 1;

	if (in == NULL)
		return 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (getline(&line, &cap, in) > 0) {
		if (first) {
			first = 0;
			if (strncmp(line, "{\"ok\":true", 10) != 0) {
				fputs(line, stderr);
				break;
			}
			continue;
		}
		if (json)
			fputs(line, stdout);
		else {
			render(line);
			putchar('\n');
		}
		if (count && ++seen == count)
			break;
	}
	free(line);
	fclose(in);
	return first || (count && seen < count) ? 1 : 0;
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = getenv("LATCHGATE_SOCKET");
	static char req[REQ_MAX];
	char *reply;
	int c, json = 0, fd, n, ok;

	if (path == NULL)
		path = DEFAULT_SOCKET;
	while ((c = getopt_long(argc, argv, "s:jh", lo, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'j': json = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc - 1 && strcmp(argv[optind], "latch-show") == 0 && argc - optind == 6) {
		n = flow_request(req, sizeof(req), argv + optind + 1);
		if (n < 0) {
			fprintf(stderr, "latchctl: latch-show: expected PROTO SRC SPORT DST DPORT\n");
			return 2;
		}
		goto send;
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	n = build_request(req, sizeof(req), argv[optind], argc - optind - 1, argv + optind + 1);
	if (n == -2)
		return 2;
	if (n < 0) {
		fprintf(stderr, "latchctl: unknown command or bad argument: %s%s%s\n", argv[optind],
			optind + 1 < argc ? " " : "", optind + 1 < argc ? argv[optind + 1] : "");
		usage(stderr);
		return 2;
	}
send:
	fd = connect_to(path);
	if (fd < 0)
		return 1;
	ok = send(fd, req, (size_t)n, MSG_NOSIGNAL) == n;
	explicit_bzero(req, (size_t)n);   /* an SA request holds its keys */
	if (!ok) {
		fprintf(stderr, "latchctl: send: %s\n", strerror(errno));
		close(fd);
		return 1;
	}
	if (strcmp(argv[optind], "monitor") == 0)
		return monitor(fd, optind + 1 < argc ? strtoull(argv[optind + 1], NULL, 10) : 0, json);
	reply = read_line(fd);
	close(fd);
	if (reply == NULL) {
		fprintf(stderr, "latchctl: no reply from %s\n", path);
		return 1;
	}
	ok = strncmp(reply, "{\"ok\":true", 10) == 0;
	if (json)
		fputs(reply, stdout);
	else
		render(reply);
	free(reply);
	return ok ? 0 : 1;
}
