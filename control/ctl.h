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
 *   -> {"op":"latch-show","id":N} or {"op":"latch-show","flow":{"proto":17,
 *      "src":"a","sport":1,"dst":"b","dport":2}} <- {"ok":true,"latch":{...}}
 *   -> {"op":"latch-close","id":N} <- {"ok":true,...,"reason":"ADMIN"}
 *   -> {"op":"monitor"}          <- {"ok":true,"op":"monitor"}, then one JSON
 *                                   line per latch event until it hangs up
 *   -> {"op":"sa-add","sa":{...}}, sa-replace (same), {"op":"sa-delete",
 *      "name":N}, policy-add / policy-replace {"policy":{...}}, policy-delete,
 *      {"op":"reload"}            <- {"ok":true,"change":N,"sas":{...},
 *                                   "spd_changed":B,"broken":M,...}
 *   -> {"op":"latches","state":S,"peer":ID,"sa":NAME,"limit":N} (filters)
 *   anything else                <- {"ok":false,"error":"..."}
 * A client whose uid is neither root nor ours is refused.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw.h"

#define LG_CTL_CLIENTS 16
#define LG_CTL_LINE_MAX 65536

struct lg_ctl_client {
	int fd;
	size_t len;
	char *buf;                   /* [LG_CTL_LINE_MAX] */
	bool monitor;                /* subscribed to latch events */
	uint64_t lost;               /* events it was too slow to take */
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
/* Send one event line to every monitor subscriber, never blocking: a
 * subscriber whose socket is full loses the line (counted). */
void lg_ctl_broadcast(struct lg_ctl *ctl, const char *line, size_t len);

#endif /* LG_CTL_H */
