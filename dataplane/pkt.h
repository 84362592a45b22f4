/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef LG_PKT_H
#define LG_PKT_H

/*
 * Header parsing for the hot path, and the classification key.
 *
 * The key is built once per packet and serves both the SPD (rte_acl reads it
 * as the classification buffer) and, in the latching issue, the flow key. It
 * is copied out of the packet rather than classifying the packet in place, so
 * IPv4 options and (next) IPv6 extension headers do not shift the fields.
 * rte_acl wants its input in network byte order; the key keeps it so.
 */

#include <stdint.h>
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "counters.h"

/* rte_acl reads the first field as one byte, then 4-byte groups. */
struct lg_key4 {
	uint8_t proto;
	uint8_t pad[3];
	rte_be32_t src;
	rte_be32_t dst;
	rte_be16_t sport;
	rte_be16_t dport;
};
static_assert(sizeof(struct lg_key4) == 16, "ACL input layout");

#define LG_L2_LEN ((uint16_t)sizeof(struct rte_ether_hdr))

static inline struct rte_ipv4_hdr *
lg_pkt_ip4(struct rte_mbuf *m)
{
	return rte_pktmbuf_mtod_offset(m, struct rte_ipv4_hdr *, LG_L2_LEN);
}

/*
 * Validate an Ethernet + IPv4 frame and fill key, m->l2_len and m->l3_len.
 * Returns LG_DROP_MAX when the packet is good, else the drop reason.
 * Ports are read only from a first fragment that holds them.
 */
static inline enum lg_drop
lg_pkt_parse4(struct rte_mbuf *m, struct lg_key4 *k)
{
	const struct rte_ether_hdr *eh;
	const struct rte_ipv4_hdr *ip;
	uint32_t len = rte_pktmbuf_data_len(m);
	uint32_t ihl, tot;

	if (unlikely(len < LG_L2_LEN + sizeof(*ip)))
		return LG_DROP_MALFORMED;
	eh = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	if (unlikely(eh->ether_type != RTE_BE16(RTE_ETHER_TYPE_IPV4)))
		return LG_DROP_NOT_IP;
	ip = (const struct rte_ipv4_hdr *)(eh + 1);
	ihl = (ip->version_ihl & 0xf) * 4u;
	tot = rte_be_to_cpu_16(ip->total_length);
	if (unlikely((ip->version_ihl >> 4) != 4 || ihl < sizeof(*ip) ||
		     tot < ihl || LG_L2_LEN + tot > len))
		return LG_DROP_MALFORMED;
	/* Drop Ethernet padding so that pkt_len is the IP datagram. */
	if (unlikely(LG_L2_LEN + tot < len))
		rte_pktmbuf_trim(m, len - (LG_L2_LEN + tot));

	m->l2_len = LG_L2_LEN;
	m->l3_len = ihl;
	k->proto = ip->next_proto_id;
	k->pad[0] = k->pad[1] = k->pad[2] = 0;
	k->src = ip->src_addr;
	k->dst = ip->dst_addr;
	k->sport = 0;
	k->dport = 0;
	if ((k->proto == IPPROTO_TCP || k->proto == IPPROTO_UDP) &&
	    (ip->fragment_offset & RTE_BE16(RTE_IPV4_HDR_OFFSET_MASK)) == 0 &&
	    tot >= ihl + 4) {
		const rte_be16_t *pp = (const rte_be16_t *)((const uint8_t *)ip + ihl);
		k->sport = pp[0];
		k->dport = pp[1];
	}
	return LG_DROP_MAX;
}

/* Forwarding decrements TTL (RFC 791, RFC 1812 §5.3.1); incremental
 * checksum update per RFC 1624. Returns 0, or -1 if TTL would expire. */
static inline int
lg_pkt_ttl_dec4(struct rte_ipv4_hdr *ip)
{
	uint32_t sum;

	if (unlikely(ip->time_to_live <= 1))
		return -1;
	ip->time_to_live--;
	sum = (uint32_t)ip->hdr_checksum + RTE_BE16(0x0100);
	ip->hdr_checksum = (uint16_t)(sum + (sum >> 16));
	return 0;
}

#endif /* LG_PKT_H */
