/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef LG_CTL_H
#define LG_CTL_H

/*
 * The control socket: a Unix stream socket (mode 0600) served by the control
 * thread, non-blocking, polled from the control loop. Requests and replies
 * are single lines of JSON:
 *   -> {"op":"stats"}            <- {"ok":true,"op":"stats","stats":{...}}
 *   -> {"op":"version"}          <- {"ok":true,"op":"version","version":"0.1.0"}
 *   -> {"op":"latches","limit":N} <- {"ok":true,"op":"latches","latches":[...],"count":n}
 *   -> {"op":"latch-close","id":N} <- {"ok":true,...,"reason":"ADMIN"}
 *   anything else                <- {"ok":false,"error":"..."}
 * A client whose uid is neither root nor ours is refused.
 */

#include <stddef.h>

#include "gw.h"

#define LG_CTL_CLIENTS 16
#define LG_CTL_LINE_MAX 65536

struct lg_ctl_client {
	int fd;
	size_t len;
	char *buf;                   /* [LG_CTL_LINE_MAX] */
};

struct lg_ctl {
	int lfd;
	char path[108];
	struct lg_ctl_client c[LG_CTL_CLIENTS];
};

/* control */
int lg_ctl_open(struct lg_ctl *ctl, const char *path, char *err, size_t errlen);
/* Serve what is ready, waiting at most timeout_ms. */
void lg_ctl_poll(struct lg_ctl *ctl, struct lg_gw *gw, int timeout_ms);
void lg_ctl_close(struct lg_ctl *ctl);

#endif /* LG_CTL_H */
