/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * latchgate [EAL options] -- --config FILE [options]
 *
 * The main lcore is the control thread: it loads the config, builds the
 * dataplane, launches the workers, then serves the control socket, prints
 * stats and watches for the end of the run until SIGINT/SIGTERM.
 */
#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ring_elem.h>

#include "config.h"
#include "ctl.h"
#include "gw.h"
#include "stats.h"

struct opts {
	const char *config;
	double stats_period;     /* s, 0 = off */
	const char *stats_json;
	long exit_on_idle_ms;    /* < 0 = off */
	double duration;         /* s, 0 = run until a signal */
};

static volatile sig_atomic_t got_signal;

static void
on_signal(int sig)
{
	got_signal = sig;
}

static void
usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [EAL options] -- --config FILE [options]\n"
		"  --config FILE        YAML configuration (required; schema in conf/README.md)\n"
		"  --stats-period S     print port, SA and drop counters every S seconds\n"
		"  --stats-json FILE    write the final counters as JSON to FILE\n"
		"  --exit-on-idle MS    exit once no packet arrived for MS ms and nothing is in flight\n"
		"  --duration S         exit after S seconds\n"
		"  --check-config       load and validate the config, then exit (no EAL)\n"
		"  --drop-reasons       print the drop counter names and meanings, then exit\n"
		"  --version            print the version, then exit\n"
		"With no EAL options, the config's 'eal:' list supplies them.\n", prog);
}

static int
parse_opts(int argc, char **argv, struct opts *o)
{
	enum { O_CONFIG = 256, O_PERIOD, O_JSON, O_IDLE, O_DURATION, O_CHECK, O_DROPS,
	       O_VERSION, O_HELP };
	static const struct option lo[] = {
		{ "config", required_argument, NULL, O_CONFIG },
		{ "stats-period", required_argument, NULL, O_PERIOD },
		{ "stats-json", required_argument, NULL, O_JSON },
		{ "exit-on-idle", required_argument, NULL, O_IDLE },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "check-config", no_argument, NULL, O_CHECK },
		{ "drop-reasons", no_argument, NULL, O_DROPS },
		{ "version", no_argument, NULL, O_VERSION },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	int c, check = 0;
	char *end;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case O_CONFIG: o->config = optarg; break;
		case O_JSON: o->stats_json = optarg; break;
		case O_PERIOD:
		case O_DURATION: {
			double v = strtod(optarg, &end);

			if (*end != '\0' || v < 0) {
				fprintf(stderr, "latchgate: --%s: expected seconds, got '%s'\n",
					c == O_PERIOD ? "stats-period" : "duration", optarg);
				return -1;
			}
			*(c == O_PERIOD ? &o->stats_period : &o->duration) = v;
			break;
		}
		case O_IDLE:
			o->exit_on_idle_ms = strtol(optarg, &end, 10);
			if (*end != '\0' || o->exit_on_idle_ms < 0) {
				fprintf(stderr, "latchgate: --exit-on-idle: expected milliseconds, got '%s'\n",
					optarg);
				return -1;
			}
			break;
		case O_CHECK: check = 1; break;
		case O_DROPS:
			for (c = 0; c < LG_DROP_MAX; c++)
				printf("| `%s` | %s |\n", lg_drop_names[c], lg_drop_descr[c]);
			exit(0);
		case O_VERSION: printf("latchgate %s\n", LG_VERSION); exit(0);
		case O_HELP: usage(stdout, argv[0]); exit(0);
		default: usage(stderr, argv[0]); return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "latchgate: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (o->config == NULL) {
		fprintf(stderr, "latchgate: --config FILE is required\n");
		usage(stderr, argv[0]);
		return -1;
	}
	return check;
}

/* Split argv at "--": EAL options before, ours after. */
static int
split_args(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return i;
	}
	return -1;
}

static int
eal_init(char **argv, int sep, const struct lg_conf *conf)
{
	char *def[] = { argv[0], "-l", "0-1", "-n", "1", "--file-prefix", "latchgate", NULL };
	char **av;
	int ac, rc;

	if (sep > 1) {
		ac = sep;
		av = argv;
	} else if (conf->neal > 0) {
		/* The config's eal: list, for appliance start-up. */
		av = calloc(conf->neal + 2, sizeof(*av));
		if (av == NULL)
			return -ENOMEM;
		av[0] = argv[0];
		memcpy(av + 1, conf->eal, conf->neal * sizeof(*av));
		ac = (int)conf->neal + 1;
	} else {
		av = def;
		ac = 7;
	}
	rc = rte_eal_init(ac, av);
	/* EAL may keep pointers into av: it is intentionally not freed. */
	return rc < 0 ? -rte_errno : 0;
}

static int
write_json(const struct lg_gw *gw, const char *path, const struct lg_totals *t)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		fprintf(stderr, "latchgate: --stats-json %s: %s\n", path, strerror(errno));
		return -1;
	}
	lg_stats_json(gw, f, t);
	return fclose(f) == 0 ? 0 : -1;
}

/*
 * Fan the latch events out: monitor subscribers get every one; the log
 * (stdout) every summary and at most LOG_EVENTS_PER_S latch events a
 * second, then one line saying how many it left out: a change that breaks
 * a million latches must not become a million log lines.
 */
#define LOG_EVENTS_PER_S 32

static void
drain_events(struct lg_gw *gw, struct lg_ctl *ctl)
{
	static uint64_t window, logged, skipped;
	uint64_t now = rte_rdtsc(), hz = rte_get_tsc_hz();
	struct lg_event ev[32];
	unsigned int n, i;
	char *line = NULL;
	size_t len = 0;

	if (now - window >= hz) {
		if (skipped)
			printf("latchgate: %" PRIu64 " more latch events in the last second, not"
			       " logged (the monitor stream has them all)\n", skipped);
		window = now;
		logged = skipped = 0;
	}

	while ((n = rte_ring_sc_dequeue_burst_elem(gw->dp->events, ev, sizeof(ev[0]),
						    RTE_DIM(ev), NULL)) != 0) {
		for (i = 0; i < n; i++) {
			FILE *f = open_memstream(&line, &len);

			if (f == NULL)
				return;
			lg_event_json(gw, &ev[i], f);
			fclose(f);
			if (ev[i].kind == LG_EVENT_SUMMARY || logged++ < LOG_EVENTS_PER_S)
				printf("latchgate: event %s", line);
			else
				skipped++;
			lg_ctl_broadcast(ctl, line, len);
			free(line);
			line = NULL;
			gw->events++;
		}
		fflush(stdout);
	}
}

static void
control_loop(struct lg_gw *gw, struct lg_ctl *ctl, const struct opts *o)
{
	static struct lg_totals prev, now;
	uint64_t hz = rte_get_tsc_hz(), t0 = rte_rdtsc(), next_stats;

	next_stats = t0 + (uint64_t)(o->stats_period * (double)hz);
	lg_stats_collect(gw, &prev);
	while (!got_signal) {
		uint64_t t = rte_rdtsc();

		lg_ctl_poll(ctl, gw, 10);
		/* ~400 k entries a second: a million-flow table in under 3 s. */
		lg_gw_expire(gw, 4096);
		lg_gw_retire_poll(gw);
		drain_events(gw, ctl);
		if (o->stats_period > 0 && t >= next_stats) {
			lg_stats_collect(gw, &now);
			lg_stats_print(gw, stdout, &now, &prev);
			fflush(stdout);
			struct lg_totals tmp = prev;

			prev = now;      /* swapped: each keeps its own SA array */
			now = tmp;
			next_stats += (uint64_t)(o->stats_period * (double)hz);
		}
		if (o->duration > 0 && t - t0 >= (uint64_t)(o->duration * (double)hz))
			break;
		if (o->exit_on_idle_ms >= 0 && lg_gw_idle(gw, (uint64_t)o->exit_on_idle_ms))
			break;
	}
}

int
main(int argc, char **argv)
{
	static struct lg_totals fin;
	struct opts o = { .exit_on_idle_ms = -1 };
	struct lg_gw gw = { 0 };
	struct lg_ctl ctl = { .lfd = -1 };
	struct lg_conf *conf;
	char err[LG_ERR_MAX];
	int sep = split_args(argc, argv);
	int rc, leak;

	rc = parse_opts(sep < 0 ? argc : argc - sep, sep < 0 ? argv : argv + sep, &o);
	if (rc < 0)
		return 2;
	conf = lg_config_load(o.config, err, sizeof(err));
	if (conf == NULL) {
		fprintf(stderr, "latchgate: %s\n", err);
		return 2;
	}
	for (uint32_t w = 0; w < conf->nwarnings; w++)
		fprintf(stderr, "latchgate: %s\n", conf->warnings[w]);
	if (rc == 1) {
		printf("%s: ok\n", o.config);
		lg_config_free(conf);
		return 0;
	}
	rc = eal_init(argv, sep, conf);
	if (rc < 0) {
		fprintf(stderr, "latchgate: EAL initialisation failed: %s\n", rte_strerror(-rc));
		lg_config_free(conf);
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	rc = lg_gw_setup(&gw, conf, err, sizeof(err));
	if (rc == 0 && lg_ctl_open(&ctl, conf->control.socket, err, sizeof(err)) != 0)
		rc = -1;
	if (rc != 0) {
		fprintf(stderr, "latchgate: %s\n", err);
		goto out;
	}
	printf("latchgate %s: %u worker(s), %u port(s), %u SA(s), %u policies, crypto %s\n",
	       LG_VERSION, gw.nworkers, conf->nports, conf->nsas, conf->npolicies,
	       conf->crypto.mode == LG_CRYPTO_DIRECT ? "direct" :
	       conf->crypto.mode == LG_CRYPTO_CPU ? "cpu" : "lookaside");
	fflush(stdout);
	lg_gw_launch(&gw);
	control_loop(&gw, &ctl, &o);
	lg_gw_stop(&gw);
	drain_events(&gw, &ctl);
	lg_gw_quiesce(&gw);
	lg_stats_collect(&gw, &fin);
	printf("latchgate: final counters\n");
	lg_stats_print(&gw, stdout, &fin, NULL);
	leak = (int)lg_stats_mbufs_in_use(&gw);
	printf("latchgate: mbufs in use at exit: %d\n", leak);
	if (o.stats_json && write_json(&gw, o.stats_json, &fin) != 0)
		rc = 1;
out:
	lg_ctl_close(&ctl);
	/* Runtime changes replace the running config: free the last one. */
	if (gw.conf != NULL)
		conf = gw.conf;
	lg_gw_teardown(&gw);
	lg_config_free(conf);
	rte_eal_cleanup();
	return rc == 0 ? 0 : 1;
}
