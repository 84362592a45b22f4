/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef LG_ROUTE_H
#define LG_ROUTE_H

/*
 * Static routes: destination prefix -> (port, next-hop MAC), longest prefix
 * match through rte_lpm (IPv4) and rte_lpm6 (IPv6). The next-hop MAC is the
 * static neighbour entry. Immutable once created, replaced whole.
 */

#include <stdbool.h>
#include <stdint.h>
#include <rte_ether.h>
#include <rte_lpm.h>
#include <rte_lpm6.h>

struct lg_route_entry {
	uint8_t af;                  /* 4 or 6 */
	uint8_t addr[16];            /* network order */
	uint8_t len;
	uint16_t port;               /* the gateway's port: index into lg_dp.port */
	bool protect;                /* that port is a protected one */
	struct rte_ether_addr mac;   /* next hop */
};

/* [I] resolved when the table is built, so forwarding reads no port table */
struct lg_nexthop {
	uint16_t port;               /* index into lg_dp.port */
	bool protect;
	struct rte_ether_addr mac;
};

struct lg_routes {
	struct rte_lpm *lpm4;
	struct rte_lpm6 *lpm6;
	int32_t def4;                /* next hop of 0.0.0.0/0, or -1: rte_lpm
				      * takes depths 1..32 only */
	int32_t def6;                /* ::/0, likewise */
	struct lg_nexthop nh[];
};

/* control */
struct lg_routes *lg_routes_create(const char *name,
				   const struct lg_route_entry *e, uint32_t n,
				   int socket);
void lg_routes_free(struct lg_routes *rt);

/* worker: dst in host order; returns the next hop or NULL. */
static inline const struct lg_nexthop *
lg_route_lookup4(const struct lg_routes *rt, uint32_t dst)
{
	uint32_t nh;

	if (rte_lpm_lookup(rt->lpm4, dst, &nh) != 0) {
		if (rt->def4 < 0)
			return NULL;
		nh = (uint32_t)rt->def4;
	}
	return &rt->nh[nh];
}

/* worker: dst is 16 bytes, network order. */
static inline const struct lg_nexthop *
lg_route_lookup6(const struct lg_routes *rt, const uint8_t *dst)
{
	uint32_t nh;

	if (rte_lpm6_lookup(rt->lpm6, dst, &nh) != 0) {
		if (rt->def6 < 0)
			return NULL;
		nh = (uint32_t)rt->def6;
	}
	return &rt->nh[nh];
}

#endif /* LG_ROUTE_H */
