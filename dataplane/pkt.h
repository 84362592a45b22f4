/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef LG_PKT_H
#define LG_PKT_H

/*
 * Header parsing for the hot path, and the classification key.
 *
 * The key is built once per packet and serves both the SPD (rte_acl reads it
 * as the classification buffer) and the flow key. It
 * is copied out of the packet rather than classifying the packet in place, so
 * IPv4 options and IPv6 extension headers do not shift the fields. rte_acl
 * wants its input in network byte order; the key keeps it so. ICMP and
 * ICMPv6 put type and code where other protocols have ports.
 *
 * Parsing sets m->l2_len, m->l3_len (IPv6: with extension headers),
 * m->packet_type (L3 family, RTE_PTYPE_L4_FRAG for fragments) and trims
 * Ethernet padding so that pkt_len covers the IP datagram exactly.
 */

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "counters.h"

/* rte_acl reads the first field as one byte, then 4-byte groups. */
struct lg_key4 {
	uint8_t proto;
	uint8_t pad[1];           /* [0]: 1 = ports OPAQUE (see l4_fill) */
	rte_be16_t echo_id;       /* ICMP echo identifier, for the flow key */
	rte_be32_t src;
	rte_be32_t dst;
	rte_be16_t sport;
	rte_be16_t dport;
};
static_assert(sizeof(struct lg_key4) == 16, "ACL input layout");

struct lg_key6 {
	uint8_t proto;
	uint8_t pad[1];
	rte_be16_t echo_id;
	uint8_t src[16];
	uint8_t dst[16];
	rte_be16_t sport;
	rte_be16_t dport;
};
static_assert(sizeof(struct lg_key6) == 40, "ACL input layout");

union lg_key {
	struct lg_key4 k4;
	struct lg_key6 k6;
};

#define LG_L2_LEN ((uint16_t)sizeof(struct rte_ether_hdr))
#define LG_IP6_EXT_MAX 8       /* extension headers walked before giving up */

static inline bool
lg_pkt_is6(const struct rte_mbuf *m)
{
	return (m->packet_type & RTE_PTYPE_L3_MASK) == RTE_PTYPE_L3_IPV6;
}

static inline void *
lg_pkt_l3(struct rte_mbuf *m)
{
	return rte_pktmbuf_mtod_offset(m, void *, LG_L2_LEN);
}

/*
 * Ports, or ICMP type/code, from the first bytes of the L4 header. Returns
 * 1 when the protocol has them but this packet does not carry them (a
 * non-initial fragment, or one cut short): the fields are OPAQUE, which
 * only an ANY selector matches (RFC 4301 §4.4.1.1, §7). The key marks it in
 * pad[0]; the SPD then consults only its port-ANY entries.
 */
static inline uint8_t
l4_fill(const uint8_t *l4, uint32_t avail, uint8_t proto, rte_be16_t *sport,
	rte_be16_t *dport)
{
	*sport = 0;
	*dport = 0;
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		if (avail < 4)
			return 1;
		memcpy(sport, l4, 2);
		memcpy(dport, l4 + 2, 2);
	} else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		if (avail < 2)
			return 1;
		*sport = rte_cpu_to_be_16(l4[0]);
		*dport = rte_cpu_to_be_16(l4[1]);
	}
	return 0;
}

/* ICMP / ICMPv6 echo identifier (network order) for the flow key, else 0:
 * echo request and reply share it (LATCHING.md §1.1). */
static inline uint16_t
icmp_echo_id(const uint8_t *l4, uint32_t avail, uint8_t proto)
{
	uint16_t id = 0;
	bool echo = (proto == IPPROTO_ICMP && (l4[0] == 8 || l4[0] == 0)) ||
		    (proto == IPPROTO_ICMPV6 && (l4[0] == 128 || l4[0] == 129));

	if (echo && avail >= 6)
		memcpy(&id, l4 + 4, 2);
	return id;
}

/* RFC 1812 §5.3.7 / §5.3.5.1: never forwarded from or to these IPv4
 * addresses: 0/8, 127/8, multicast and class E (no multicast routing here),
 * and the limited broadcast. */
static inline bool
martian4(rte_be32_t src, rte_be32_t dst)
{
	uint8_t s = (uint8_t)(rte_be_to_cpu_32(src) >> 24), d = (uint8_t)(rte_be_to_cpu_32(dst) >> 24);

	return s == 0 || s == 127 || s >= 224 || d == 0 || d == 127 || d >= 224;
}

/* IPv6: unspecified, loopback, multicast (RFC 4291 §2.7: no multicast
 * routing here) and link-local (§2.5.6: never forwarded). */
static inline bool
martian6_addr(const uint8_t *a)
{
	static const uint8_t zero[15];

	if (a[0] == 0xff || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80))
		return true;
	return memcmp(a, zero, 15) == 0 && a[15] <= 1;
}

/*
 * The Internet checksum sum (not complemented) of a 20-byte IPv4 header
 * given as words a (bytes 0-7), b (8-15), c (16-19): two 64-bit adds with
 * end-around carries, then folded (RFC 1071 §2(C): any word size, and any
 * byte order, §2(B)); rte_raw_cksum adds 16 bits at a time.
 */
static inline uint16_t
lg_ip4_sum(uint64_t a, uint64_t b, uint32_t c)
{
	uint64_t s = a + b;

	s += s < b;
	s += c;
	s += s < c;
	s = (s & 0xffffffffu) + (s >> 32);
	s = (s & 0xffffffffu) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* Whether an IPv4 header's checksum verifies; the 20-byte header, nearly
 * every one, in words. */
static inline bool
ip4_cksum_ok(const void *ip, uint32_t ihl)
{
	uint64_t a, b;
	uint32_t c;

	if (unlikely(ihl != 20))
		return rte_raw_cksum(ip, ihl) == 0xffff;
	memcpy(&a, ip, 8);
	memcpy(&b, (const uint8_t *)ip + 8, 8);
	memcpy(&c, (const uint8_t *)ip + 16, 4);
	return lg_ip4_sum(a, b, c) == 0xffff;
}

static inline enum lg_drop
parse4(struct rte_mbuf *m, uint32_t len, struct lg_key4 *k)
{
	const struct rte_ipv4_hdr *ip = lg_pkt_l3(m);
	uint32_t ihl, tot;
	bool frag, later;

	if (unlikely(len < LG_L2_LEN + sizeof(*ip)))
		return LG_DROP_MALFORMED;
	ihl = (ip->version_ihl & 0xf) * 4u;
	tot = rte_be_to_cpu_16(ip->total_length);
	if (unlikely((ip->version_ihl >> 4) != 4 || ihl < sizeof(*ip) ||
		     tot < ihl || LG_L2_LEN + tot > len))
		return LG_DROP_MALFORMED;
	/* RFC 1812 §5.2.2: a router MUST verify the header checksum. */
	if (unlikely(!(m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_GOOD) &&
		     ((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_BAD) ||
		      !ip4_cksum_ok(ip, ihl))))
		return LG_DROP_BAD_IP_CHECKSUM;
	if (unlikely(martian4(ip->src_addr, ip->dst_addr)))
		return LG_DROP_MARTIAN;
	if (unlikely(LG_L2_LEN + tot < len))
		rte_pktmbuf_trim(m, len - (LG_L2_LEN + tot));
	frag = ip->fragment_offset & RTE_BE16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK);
	later = ip->fragment_offset & RTE_BE16(RTE_IPV4_HDR_OFFSET_MASK);
	m->l3_len = ihl;
	m->packet_type = RTE_PTYPE_L3_IPV4 | (frag ? RTE_PTYPE_L4_FRAG : 0);
	k->proto = ip->next_proto_id;
	k->src = ip->src_addr;
	k->dst = ip->dst_addr;
	/* Only a first fragment carries the ports (RFC 4301 §7). */
	k->pad[0] = l4_fill((const uint8_t *)ip + ihl, later ? 0 : tot - ihl, k->proto,
			    &k->sport, &k->dport);
	k->echo_id = later || tot - ihl < 2 ? 0 :
		     icmp_echo_id((const uint8_t *)ip + ihl, tot - ihl, k->proto);
	return LG_DROP_MAX;
}

static inline enum lg_drop
parse6(struct rte_mbuf *m, uint32_t len, struct lg_key6 *k)
{
	const struct rte_ipv6_hdr *ip = lg_pkt_l3(m);
	const uint8_t *p;
	uint32_t tot, off = sizeof(*ip), i;
	int proto;
	bool frag = false, later = false;

	if (unlikely(len < LG_L2_LEN + sizeof(*ip) ||
		     (rte_be_to_cpu_32(ip->vtc_flow) >> 28) != 6))
		return LG_DROP_MALFORMED;
	tot = sizeof(*ip) + rte_be_to_cpu_16(ip->payload_len);
	if (unlikely(LG_L2_LEN + tot > len))
		return LG_DROP_MALFORMED;
	if (unlikely(martian6_addr(ip->src_addr) || martian6_addr(ip->dst_addr)))
		return LG_DROP_MARTIAN;
	if (unlikely(LG_L2_LEN + tot < len))
		rte_pktmbuf_trim(m, len - (LG_L2_LEN + tot));
	p = (const uint8_t *)ip;
	proto = ip->proto;
	for (i = 0; i < LG_IP6_EXT_MAX; i++) {
		size_t ext = 0;
		int next;

		if (proto != IPPROTO_HOPOPTS && proto != IPPROTO_ROUTING &&
		    proto != IPPROTO_DSTOPTS && proto != IPPROTO_FRAGMENT)
			break;
		if (unlikely(off + 8 > tot))
			return LG_DROP_MALFORMED;
		next = rte_ipv6_get_next_ext(p + off, proto, &ext);
		if (unlikely(next < 0 || off + ext > tot))
			return LG_DROP_MALFORMED;
		if (proto == IPPROTO_FRAGMENT) {
			const struct rte_ipv6_fragment_ext *f = (const void *)(p + off);

			/* RFC 8200 §4.5: one Fragment header. After a non-first
			 * fragment's header comes payload, not headers: stop. */
			if (unlikely(frag))
				return LG_DROP_MALFORMED;
			frag = true;
			later = RTE_IPV6_GET_FO(rte_be_to_cpu_16(f->frag_data)) != 0;
			if (later) {
				off += (uint32_t)ext;
				proto = next;
				break;
			}
		}
		off += (uint32_t)ext;
		proto = next;
	}
	if (unlikely(i == LG_IP6_EXT_MAX))
		return LG_DROP_MALFORMED;
	/* RFC 7112 / RFC 8200 §4.5: a first fragment must hold the whole
	 * header chain up to the transport ports. */
	if (unlikely(frag && !later && (proto == IPPROTO_TCP || proto == IPPROTO_UDP) &&
		     tot < off + 4))
		return LG_DROP_MALFORMED;
	m->l3_len = off;
	m->packet_type = RTE_PTYPE_L3_IPV6 | (frag ? RTE_PTYPE_L4_FRAG : 0);
	k->proto = (uint8_t)proto;
	memcpy(k->src, ip->src_addr, 16);
	memcpy(k->dst, ip->dst_addr, 16);
	k->pad[0] = l4_fill(p + off, later ? 0 : tot - off, k->proto, &k->sport, &k->dport);
	k->echo_id = later || tot - off < 2 ? 0 : icmp_echo_id(p + off, tot - off, k->proto);
	return LG_DROP_MAX;
}

/*
 * Validate an Ethernet + IPv4/IPv6 frame and fill the key. Returns
 * LG_DROP_MAX when the packet is good, else the drop reason.
 */
static inline enum lg_drop
lg_pkt_parse(struct rte_mbuf *m, union lg_key *k)
{
	const struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, const struct rte_ether_hdr *);
	uint32_t len = rte_pktmbuf_data_len(m);

	if (unlikely(len < LG_L2_LEN || m->nb_segs != 1))
		return LG_DROP_MALFORMED;
	m->l2_len = LG_L2_LEN;
	if (eh->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV4))
		return parse4(m, len, &k->k4);
	if (eh->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV6))
		return parse6(m, len, &k->k6);
	return LG_DROP_NOT_IP;
}

static inline uint8_t
lg_key_proto(const union lg_key *k)
{
	return k->k4.proto;   /* first byte of either layout */
}

/*
 * Forwarding decrements TTL / hop limit (RFC 1812 §5.3.1, RFC 8200 §3);
 * IPv4 checksum updated incrementally (RFC 1624). Returns 0, or -1 if it
 * would expire.
 */
static inline int
lg_pkt_ttl_dec(struct rte_mbuf *m)
{
	if (lg_pkt_is6(m)) {
		struct rte_ipv6_hdr *ip6 = lg_pkt_l3(m);

		if (unlikely(ip6->hop_limits <= 1))
			return -1;
		ip6->hop_limits--;
		return 0;
	}
	struct rte_ipv4_hdr *ip = lg_pkt_l3(m);
	uint32_t sum;

	if (unlikely(ip->time_to_live <= 1))
		return -1;
	ip->time_to_live--;
	sum = (uint32_t)ip->hdr_checksum + RTE_BE16(0x0100);
	ip->hdr_checksum = (uint16_t)(sum + (sum >> 16));
	return 0;
}

/*
 * Store a 20-byte IPv4 header given as little-endian words a (ver_ihl tos
 * len id frag), b (ttl proto cksum src), c (dst), with its checksum summed
 * in registers: the header is written once, never re-read. Byte stores
 * followed by rte_ipv4_cksum's 16-byte loads of the same line stall store
 * forwarding (about 30 cycles a packet, measured on the outbound path).
 * The Internet checksum is byte-order independent (RFC 1071 §2(B)).
 */
static_assert(RTE_BYTE_ORDER == RTE_LITTLE_ENDIAN, "lg_ip4_store takes LE words");

static inline void
lg_ip4_store(void *ip, uint64_t a, uint64_t b, uint32_t c)
{
	b &= ~(0xffffull << 16);
	b |= (uint64_t)(uint16_t)~lg_ip4_sum(a, b, c) << 16;
	memcpy(ip, &a, 8);
	memcpy((uint8_t *)ip + 8, &b, 8);
	memcpy((uint8_t *)ip + 16, &c, 4);
}

/* Traffic class octet (IPv4 TOS / IPv6 TC): DSCP << 2 | ECN. */
static inline uint8_t
lg_pkt_tos(struct rte_mbuf *m)
{
	if (lg_pkt_is6(m)) {
		const struct rte_ipv6_hdr *ip6 = lg_pkt_l3(m);

		return (uint8_t)(rte_be_to_cpu_32(ip6->vtc_flow) >> 20);
	}
	return ((const struct rte_ipv4_hdr *)lg_pkt_l3(m))->type_of_service;
}

#endif /* LG_PKT_H */
