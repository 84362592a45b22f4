/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>

#include <rte_common.h>
#include <rte_errno.h>
#include <rte_malloc.h>

#include "replay.h"

struct lg_replay *
lg_replay_create(uint32_t win, bool esn, bool shared, int socket)
{
	uint32_t nb = rte_align32pow2(win / 64 + 2);
	struct lg_replay *r;

	if (win == 0 || win > (1u << 20)) {
		rte_errno = EINVAL;
		return NULL;
	}
	r = rte_zmalloc_socket("lg_replay", sizeof(*r) + nb * sizeof(r->bits[0]),
			       RTE_CACHE_LINE_SIZE, socket);
	if (r == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	r->win = win;
	r->mask = nb - 1;
	r->esn = esn;
	r->shared = shared;
	rte_spinlock_init(&r->lock);
	return r;
}

void
lg_replay_free(struct lg_replay *r)
{
	rte_free(r);
}
