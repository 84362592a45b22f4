/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_malloc.h>

#include "route.h"

struct lg_routes *
lg_routes_create(const char *name, const struct lg_route_entry *e, uint32_t n,
		 int socket)
{
	struct rte_lpm_config cfg = {
		.max_rules = n + 16, .number_tbl8s = 256,
	};
	struct rte_lpm6_config cfg6 = {
		.max_rules = n + 16, .number_tbl8s = 1024,
	};
	/* [C] rte_lpm names must be unique while the old table lives on
	 * through a grace period after a change */
	static uint32_t gen;
	char name4[64], name6[64];
	struct lg_routes *rt;
	uint32_t i;

	rt = rte_zmalloc_socket(name, sizeof(*rt) + (n + 1) * sizeof(rt->nh[0]),
				RTE_CACHE_LINE_SIZE, socket);
	if (rt == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	rt->def4 = rt->def6 = -1;
	snprintf(name4, sizeof(name4), "%s4-%u", name, gen);
	snprintf(name6, sizeof(name6), "%s6-%u", name, gen);
	gen++;
	rt->lpm4 = rte_lpm_create(name4, socket, &cfg);
	rt->lpm6 = rte_lpm6_create(name6, socket, &cfg6);
	if (rt->lpm4 == NULL || rt->lpm6 == NULL)
		goto fail;
	for (i = 0; i < n; i++) {
		uint32_t ip;
		int rc;

		if ((e[i].af != 4 && e[i].af != 6) || e[i].len > (e[i].af == 4 ? 32 : 128)) {
			rte_errno = EINVAL;
			goto fail;
		}
		/* One next hop per route: the LPM value is its index. */
		rt->nh[i].port = e[i].port;
		rt->nh[i].protect = e[i].protect;
		rt->nh[i].mac = e[i].mac;
		if (e[i].len == 0) {
			*(e[i].af == 4 ? &rt->def4 : &rt->def6) = (int32_t)i;
			continue;
		}
		if (e[i].af == 6) {
			rc = rte_lpm6_add(rt->lpm6, e[i].addr, e[i].len, i);
		} else {
			ip = (uint32_t)e[i].addr[0] << 24 | (uint32_t)e[i].addr[1] << 16 |
			     (uint32_t)e[i].addr[2] << 8 | e[i].addr[3];
			rc = rte_lpm_add(rt->lpm4, ip, e[i].len, i);
		}
		if (rc != 0) {
			rte_errno = ENOSPC;
			goto fail;
		}
	}
	return rt;
fail:
	lg_routes_free(rt);
	return NULL;
}

void
lg_routes_free(struct lg_routes *rt)
{
	if (rt == NULL)
		return;
	rte_lpm_free(rt->lpm4);
	rte_lpm6_free(rt->lpm6);
	rte_free(rt);
}
