/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include <rte_cryptodev.h>
#include <rte_errno.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_udp.h>

#include "pkt.h"
#include "sa.h"

/* What each suite puts on the wire (RFC 4106, RFC 3602, RFC 3686, RFC 2410). */
struct suite {
	uint8_t iv_len, crypto_iv_len, pad_align;
	enum rte_crypto_cipher_algorithm calgo;
};

static const struct suite suites[] = {
	[LG_SA_C_NULL] = { 0, 0, 4, RTE_CRYPTO_CIPHER_NULL },
	[LG_SA_C_AES_CBC] = { 16, 16, 16, RTE_CRYPTO_CIPHER_AES_CBC },
	/* nonce(4) || IV(8) || counter(4) */
	[LG_SA_C_AES_CTR] = { 8, 16, 4, RTE_CRYPTO_CIPHER_AES_CTR },
	/* salt(4) || IV(8) */
	[LG_SA_C_AES_GCM] = { 8, 12, 4, 0 },
};

static uint8_t
icv_len_of(uint8_t auth)
{
	switch (auth) {
	case LG_SA_A_SHA1_96: return 12;
	case LG_SA_A_SHA256_128: return 16;
	case LG_SA_A_AEAD: return 16;
	default: return 0;
	}
}

/*
 * Outer header template for outbound tunnel SAs: Ethernet (addresses filled
 * after routing) + IPv4 or IPv6. librte_ipsec copies it in front of the ESP
 * header (adding the UDP header itself for NAT-T) and sets lengths and the
 * IPv4 id; the worker sets DSCP/ECN/DF per packet and the IPv4 checksum.
 */
struct tun_hdr {
	struct rte_ether_hdr eth;
	union {
		struct rte_ipv4_hdr v4;
		struct rte_ipv6_hdr v6;
	};
} __rte_packed __rte_aligned(2);

static uint32_t
fill_tun(struct tun_hdr *h, const struct lg_sa_prm *p)
{
	uint8_t proto = p->encap_udp ? IPPROTO_UDP : IPPROTO_ESP;
	uint8_t ttl = p->ttl ? p->ttl : 64;

	memset(h, 0, sizeof(*h));
	if (p->af == 6) {
		h->eth.ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV6);
		h->v6.vtc_flow = RTE_BE32(6u << 28);
		h->v6.proto = proto;
		h->v6.hop_limits = ttl;
		memcpy(h->v6.src_addr, p->local, 16);
		memcpy(h->v6.dst_addr, p->remote, 16);
		return sizeof(h->eth) + sizeof(h->v6);
	}
	h->eth.ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	h->v4.version_ihl = RTE_IPV4_VHL_DEF;
	/* RFC 4301 §8.1: DF set or cleared here, or copied per packet. */
	if (p->df == LG_SA_DF_SET)
		h->v4.fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
	h->v4.time_to_live = ttl;
	h->v4.next_proto_id = proto;
	memcpy(&h->v4.src_addr, p->local, 4);
	memcpy(&h->v4.dst_addr, p->remote, 4);
	return sizeof(h->eth) + sizeof(h->v4);
}

/* xf[0..1]: AEAD alone, or cipher -> auth (outbound) / auth -> cipher
 * (inbound), the order librte_ipsec expects. */
static void
fill_xforms(struct rte_crypto_sym_xform xf[2], const struct lg_sa_prm *p)
{
	const struct suite *su = &suites[p->cipher];
	bool out = p->dir == LG_SA_OUT;
	struct rte_crypto_sym_xform *c, *a;

	memset(xf, 0, 2 * sizeof(*xf));
	if (p->cipher == LG_SA_C_AES_GCM) {
		xf[0].type = RTE_CRYPTO_SYM_XFORM_AEAD;
		xf[0].aead.op = out ? RTE_CRYPTO_AEAD_OP_ENCRYPT : RTE_CRYPTO_AEAD_OP_DECRYPT;
		xf[0].aead.algo = RTE_CRYPTO_AEAD_AES_GCM;
		xf[0].aead.key.data = p->cipher_key;
		xf[0].aead.key.length = p->cipher_key_len;
		xf[0].aead.iv.offset = LG_IV_OFFSET;
		xf[0].aead.iv.length = su->crypto_iv_len;
		xf[0].aead.digest_length = 16;
		/* SPI || seq, or SPI || seq_hi || seq_lo with ESN (RFC 4106 §5). */
		xf[0].aead.aad_length = p->esn ? 12 : 8;
		return;
	}
	c = out ? &xf[0] : &xf[1];
	a = out ? &xf[1] : &xf[0];
	xf[0].next = &xf[1];
	c->type = RTE_CRYPTO_SYM_XFORM_CIPHER;
	c->cipher.op = out ? RTE_CRYPTO_CIPHER_OP_ENCRYPT : RTE_CRYPTO_CIPHER_OP_DECRYPT;
	c->cipher.algo = su->calgo;
	c->cipher.key.data = p->cipher_key;
	c->cipher.key.length = p->cipher_key_len;
	c->cipher.iv.offset = LG_IV_OFFSET;
	c->cipher.iv.length = su->crypto_iv_len;
	a->type = RTE_CRYPTO_SYM_XFORM_AUTH;
	a->auth.op = out ? RTE_CRYPTO_AUTH_OP_GENERATE : RTE_CRYPTO_AUTH_OP_VERIFY;
	a->auth.algo = p->auth == LG_SA_A_SHA1_96 ? RTE_CRYPTO_AUTH_SHA1_HMAC :
		       p->auth == LG_SA_A_SHA256_128 ? RTE_CRYPTO_AUTH_SHA256_HMAC :
		       RTE_CRYPTO_AUTH_NULL;
	a->auth.key.data = p->auth_key;
	a->auth.key.length = p->auth_key_len;
	a->auth.digest_length = icv_len_of(p->auth);
}

static void
fill_ipsec_prm(struct rte_ipsec_sa_prm *ip, const struct lg_sa_prm *p,
	       struct rte_crypto_sym_xform *xf, const struct tun_hdr *tun, uint32_t tun_len)
{
	memset(ip, 0, sizeof(*ip));
	ip->flags = p->sqn_atom ? RTE_IPSEC_SAFLAG_SQN_ATOM : 0;
	ip->ipsec_xform.spi = p->spi;
	if (p->salt != NULL)
		memcpy(&ip->ipsec_xform.salt, p->salt, 4);
	ip->ipsec_xform.options.esn = p->esn;
	/* Inbound, the worker strips the UDP header itself (it is part of
	 * l3_len): librte_ipsec's inbound SA must be plain ESP. */
	ip->ipsec_xform.options.udp_encap = p->encap_udp && p->dir == LG_SA_OUT;
	ip->ipsec_xform.udp.sport = p->encap_sport;
	ip->ipsec_xform.udp.dport = p->encap_dport;
	/* librte_ipsec starts the outbound counter here (0 means 1). */
	ip->ipsec_xform.esn.value = p->dir == LG_SA_OUT ? p->next_seq : 0;
	ip->ipsec_xform.direction = p->dir == LG_SA_OUT ?
		RTE_SECURITY_IPSEC_SA_DIR_EGRESS : RTE_SECURITY_IPSEC_SA_DIR_INGRESS;
	ip->ipsec_xform.proto = RTE_SECURITY_IPSEC_SA_PROTO_ESP;
	ip->ipsec_xform.replay_win_sz = p->dir == LG_SA_IN ? p->replay_window : 0;
	ip->crypto_xform = xf;
	if (p->mode == LG_SA_M_TRANSPORT) {
		ip->ipsec_xform.mode = RTE_SECURITY_IPSEC_SA_MODE_TRANSPORT;
		/* librte_ipsec's name for "IPv4 transport" / "IPv6 transport". */
		ip->trs.proto = p->af == 6 ? IPPROTO_IPV6 : IPPROTO_IPIP;
		return;
	}
	ip->ipsec_xform.mode = RTE_SECURITY_IPSEC_SA_MODE_TUNNEL;
	if (p->af == 6) {
		ip->ipsec_xform.tunnel.type = RTE_SECURITY_IPSEC_TUNNEL_IPV6;
		memcpy(&ip->ipsec_xform.tunnel.ipv6.src_addr, p->local, 16);
		memcpy(&ip->ipsec_xform.tunnel.ipv6.dst_addr, p->remote, 16);
	} else {
		ip->ipsec_xform.tunnel.type = RTE_SECURITY_IPSEC_TUNNEL_IPV4;
		memcpy(&ip->ipsec_xform.tunnel.ipv4.src_ip, p->local, 4);
		memcpy(&ip->ipsec_xform.tunnel.ipv4.dst_ip, p->remote, 4);
	}
	ip->tun.next_proto = p->inner_af == 6 ? IPPROTO_IPV6 : IPPROTO_IPIP;
	if (p->dir == LG_SA_OUT) {
		ip->tun.hdr = tun;
		ip->tun.hdr_len = (uint8_t)tun_len;
		ip->tun.hdr_l3_off = sizeof(tun->eth);
	}
}

static int
init_sessions(struct lg_sa *sa, const struct lg_sa_prm *p,
	      struct rte_crypto_sym_xform *xf)
{
	uint8_t i;
	int rc;

	for (i = 0; i < p->ndev; i++) {
		struct rte_ipsec_session *ss = &sa->ss[i];

		sa->cses[i] = rte_cryptodev_sym_session_create(p->dev_ids[i], xf,
							       p->sess_mp);
		/* A device without the suite refuses the session. */
		if (sa->cses[i] == NULL)
			return rte_errno == ENOMEM ? -ENOMEM : -ENOTSUP;
		ss->sa = sa->isa;
		ss->type = sa->cpu ? RTE_SECURITY_ACTION_TYPE_CPU_CRYPTO
				   : RTE_SECURITY_ACTION_TYPE_NONE;
		ss->crypto.ses = sa->cses[i];
		ss->crypto.dev_id = p->dev_ids[i];
		rc = rte_ipsec_session_prepare(ss);
		if (rc != 0)
			return rc;
		/* rte_ipsec_pkt_crypto_group() maps a completed op back to
		 * its session through the session's opaque data. */
		rte_cryptodev_sym_session_opaque_data_set(sa->cses[i],
							  (uintptr_t)ss);
	}
	return 0;
}

/*
 * crypto.mode: cpu runs every SA synchronously except AES-CBC outbound:
 * librte_ipsec 22.11's cpu-crypto path encrypts CBC with the IV it also
 * writes into the packet, so every packet leaves with the same IV,
 * E_K(0) (found by the interop suite; RFC 3602 §3 requires unpredictable
 * IVs). Those SAs take the lookaside path, which sends E_K(counter).
 */
static bool
cpu_path(const struct lg_sa_prm *p)
{
	return p->cpu && !(p->cipher == LG_SA_C_AES_CBC && p->dir == LG_SA_OUT);
}

static void
copy_params(struct lg_sa *sa, const struct lg_sa_prm *p)
{
	sa->slot = p->slot;
	sa->ident = p->ident;
	sa->pset = p->pset;
	sa->dir = p->dir;
	sa->mode = p->mode;
	sa->ndev = p->ndev;
	sa->af = p->af;
	sa->inner_af = p->mode == LG_SA_M_TRANSPORT ? p->af : p->inner_af;
	sa->iv_len = suites[p->cipher].iv_len;
	sa->pad_align = suites[p->cipher].pad_align;
	sa->icv_len = icv_len_of(p->auth);
	/* librte_ipsec appends seq_hi behind the ICV of every ESN packet while
	 * it is being verified, AEAD included. */
	sa->sqh_len = p->esn ? 4 : 0;
	sa->cpu = cpu_path(p);
	sa->next_proto = sa->inner_af == 6 ? IPPROTO_IPV6 : IPPROTO_IPIP;
	sa->df = p->df;
	sa->dscp = p->dscp;
	sa->encap_udp = p->encap_udp;
	sa->esn = p->esn;
	sa->sqn_atom = p->sqn_atom;
	sa->spi = p->spi;
}

/* crypto.mode direct: the frame start the worker copies (esp.h), and the
 * outbound counter (librte_ipsec's convention: next_seq 0 means 1). */
static int
direct_init(struct lg_sa *sa, const struct lg_sa_prm *p)
{
	struct tun_hdr tun;
	uint32_t len = fill_tun(&tun, p);
	uint32_t spi = rte_cpu_to_be_32(p->spi);

	sa->ek = lg_esp_keys_create(p);
	if (sa->ek == NULL)
		return -rte_errno;
	sa->ek_gcm = p->cipher == LG_SA_C_AES_GCM;
	sa->cpu = false;
	sa->sqh_len = 0;          /* esp.c puts seq_hi where the ICV goes */
	sa->l3_len = (uint8_t)(len - sizeof(tun.eth));
	memcpy(sa->hdr, &tun, len);
	if (p->encap_udp) {
		struct rte_udp_hdr u = {
			.src_port = rte_cpu_to_be_16(p->encap_sport),
			.dst_port = rte_cpu_to_be_16(p->encap_dport),
		};

		memcpy(sa->hdr + len, &u, sizeof(u));
		len += sizeof(u);
	}
	memcpy(sa->hdr + len, &spi, 4);
	sa->hdr_len = (uint8_t)(len + 4);
	sa->sqn = (p->next_seq ? p->next_seq : 1) - 1;
	return 0;
}

/* RFC 4303 §3.2 / RFC 4301 §4.2: never NULL encryption with no integrity.
 * Confidentiality-only ESP is legal (RFC 4303 §3.2 MAY) but then carries no
 * anti-replay (§3.4.3: MUST NOT without integrity). */
static bool
prm_valid(const struct lg_sa_prm *p)
{
	bool aead = p->cipher == LG_SA_C_AES_GCM;

	if ((p->af != 4 && p->af != 6) || p->ndev == 0 || p->ndev > LG_CRYPTO_DEV_MAX ||
	    p->cipher > LG_SA_C_AES_GCM || p->auth > LG_SA_A_AEAD)
		return false;
	if (aead != (p->auth == LG_SA_A_AEAD))
		return false;
	if (p->auth == LG_SA_A_NULL && (p->cipher == LG_SA_C_NULL || p->replay_window != 0))
		return false;
	if (p->cipher == LG_SA_C_NULL ? p->cipher_key_len != 0 :
	    (p->cipher_key_len != 16 && p->cipher_key_len != 32))
		return false;
	if ((p->cipher == LG_SA_C_AES_GCM || p->cipher == LG_SA_C_AES_CTR) && p->salt == NULL)
		return false;
	if (!aead && (p->auth_key_len == 0) != (p->auth == LG_SA_A_NULL))
		return false;
	if (p->mode == LG_SA_M_TUNNEL && p->inner_af != 4 && p->inner_af != 6)
		return false;
	return !(p->encap_udp && p->mode != LG_SA_M_TUNNEL);
}

struct lg_sa *
lg_sa_create(const struct lg_sa_prm *p)
{
	struct rte_crypto_sym_xform xf[2];
	struct rte_ipsec_sa_prm ip;
	struct tun_hdr tun;
	struct lg_sa *sa;
	uint32_t tun_len;
	int sz, rc;

	if (!prm_valid(p)) {
		rte_errno = EINVAL;
		return NULL;
	}
	tun_len = fill_tun(&tun, p);
	fill_xforms(xf, p);
	fill_ipsec_prm(&ip, p, xf, &tun, tun_len);
	sz = rte_ipsec_sa_size(&ip);
	if (sz < 0) {
		rte_errno = -sz;
		return NULL;
	}
	sa = rte_zmalloc_socket("lg_sa", sizeof(*sa), RTE_CACHE_LINE_SIZE, p->socket);
	if (sa == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	copy_params(sa, p);
	if (p->direct && lg_esp_supports(p)) {
		rc = direct_init(sa, p);
	} else {
		sa->isa_size = (uint32_t)sz;
		sa->isa = rte_zmalloc_socket("lg_ipsec_sa", sz, RTE_CACHE_LINE_SIZE, p->socket);
		rc = sa->isa == NULL ? -ENOMEM : rte_ipsec_sa_init(sa->isa, &ip, sz);
		if (rc >= 0)
			rc = init_sessions(sa, p, xf);
	}
	if (rc >= 0 && p->dir == LG_SA_IN && p->replay_window > 0) {
		sa->rp = lg_replay_create(p->replay_window, p->esn, p->sqn_atom, p->socket);
		if (sa->rp == NULL)
			rc = -ENOMEM;
	}
	/* The PMD keeps its own (expanded) copy of the keys. */
	explicit_bzero(&ip.ipsec_xform.salt, sizeof(ip.ipsec_xform.salt));
	explicit_bzero(xf, sizeof(xf));
	if (rc < 0) {
		lg_sa_free(sa);
		rte_errno = -rc;
		return NULL;
	}
	return sa;
}

void
lg_sa_free(struct lg_sa *sa)
{
	uint8_t i;

	if (sa == NULL)
		return;
	for (i = 0; i < sa->ndev; i++) {
		if (sa->cses[i] != NULL)
			rte_cryptodev_sym_session_free(sa->ss[i].crypto.dev_id,
						       sa->cses[i]);
	}
	if (sa->isa != NULL) {
		rte_ipsec_sa_fini(sa->isa);
		/* The SA holds the salt; zero it with the rest. */
		explicit_bzero(sa->isa, sa->isa_size);
		rte_free(sa->isa);
	}
	lg_replay_free(sa->rp);
	lg_esp_keys_free(sa->ek);
	explicit_bzero(sa, sizeof(*sa));
	rte_free(sa);
}
