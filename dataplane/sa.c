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

#include "pkt.h"
#include "sa.h"

#define GCM_ICV_LEN 16
#define GCM_IV_LEN 12  /* salt(4) || IV(8), RFC 4106 §4 */

const char *
lg_sa_alg_name(uint8_t alg)
{
	return alg == LG_SA_AES256_GCM ? "aes-256-gcm" : "aes-128-gcm";
}

/*
 * Outer header template for outbound tunnel SAs: Ethernet (addresses filled
 * after routing) + IPv4. librte_ipsec copies it in front of the ESP header
 * and sets total length and id; we set the checksum after processing.
 */
struct tun4_hdr {
	struct rte_ether_hdr eth;
	struct rte_ipv4_hdr ip;
} __rte_packed __rte_aligned(2);

static void
fill_tun4(struct tun4_hdr *h, const struct lg_sa_prm *p)
{
	memset(h, 0, sizeof(*h));
	h->eth.ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	h->ip.version_ihl = RTE_IPV4_VHL_DEF;
	/* DF set: the id is then not used for reassembly (RFC 6864 §4.1);
	 * configurable DF handling comes with RFC 4301 §8.1 in a later issue. */
	h->ip.fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
	h->ip.time_to_live = 64;
	h->ip.next_proto_id = IPPROTO_ESP;
	memcpy(&h->ip.src_addr, p->local, 4);
	memcpy(&h->ip.dst_addr, p->remote, 4);
}

static void
fill_aead(struct rte_crypto_sym_xform *xf, const struct lg_sa_prm *p)
{
	memset(xf, 0, sizeof(*xf));
	xf->type = RTE_CRYPTO_SYM_XFORM_AEAD;
	xf->aead.op = p->dir == LG_SA_OUT ? RTE_CRYPTO_AEAD_OP_ENCRYPT
					  : RTE_CRYPTO_AEAD_OP_DECRYPT;
	xf->aead.algo = RTE_CRYPTO_AEAD_AES_GCM;
	xf->aead.key.data = p->key;
	xf->aead.key.length = p->key_len;
	xf->aead.iv.offset = LG_IV_OFFSET;
	xf->aead.iv.length = GCM_IV_LEN;
	xf->aead.digest_length = GCM_ICV_LEN;
	/* AAD is SPI || seq, or SPI || seq_hi || seq_lo with ESN (RFC 4106 §5). */
	xf->aead.aad_length = p->esn ? 12 : 8;
}

static void
fill_ipsec_prm(struct rte_ipsec_sa_prm *ip, const struct lg_sa_prm *p,
	       struct rte_crypto_sym_xform *xf, const struct tun4_hdr *tun)
{
	memset(ip, 0, sizeof(*ip));
	ip->flags = p->sqn_atom ? RTE_IPSEC_SAFLAG_SQN_ATOM : 0;
	ip->ipsec_xform.spi = p->spi;
	memcpy(&ip->ipsec_xform.salt, p->salt, 4);
	ip->ipsec_xform.options.esn = p->esn;
	/* librte_ipsec starts the outbound counter here (0 means 1). */
	ip->ipsec_xform.esn.value = p->dir == LG_SA_OUT ? p->next_seq : 0;
	ip->ipsec_xform.direction = p->dir == LG_SA_OUT ?
		RTE_SECURITY_IPSEC_SA_DIR_EGRESS : RTE_SECURITY_IPSEC_SA_DIR_INGRESS;
	ip->ipsec_xform.proto = RTE_SECURITY_IPSEC_SA_PROTO_ESP;
	ip->ipsec_xform.mode = RTE_SECURITY_IPSEC_SA_MODE_TUNNEL;
	ip->ipsec_xform.tunnel.type = RTE_SECURITY_IPSEC_TUNNEL_IPV4;
	memcpy(&ip->ipsec_xform.tunnel.ipv4.src_ip, p->local, 4);
	memcpy(&ip->ipsec_xform.tunnel.ipv4.dst_ip, p->remote, 4);
	ip->ipsec_xform.replay_win_sz = p->dir == LG_SA_IN ? p->replay_window : 0;
	ip->crypto_xform = xf;
	ip->tun.next_proto = IPPROTO_IPIP;
	if (p->dir == LG_SA_OUT) {
		ip->tun.hdr = tun;
		ip->tun.hdr_len = sizeof(*tun);
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
		if (sa->cses[i] == NULL)
			return -(rte_errno ? rte_errno : ENOMEM);
		ss->sa = sa->isa;
		ss->type = p->cpu ? RTE_SECURITY_ACTION_TYPE_CPU_CRYPTO
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

static void
copy_cold(struct lg_sa *sa, const struct lg_sa_prm *p)
{
	sa->slot = p->slot;
	sa->dir = p->dir;
	sa->ndev = p->ndev;
	sa->spi = p->spi;
	sa->alg = p->alg;
	sa->af = p->af;
	memcpy(sa->local, p->local, sizeof(sa->local));
	memcpy(sa->remote, p->remote, sizeof(sa->remote));
	sa->replay_window = p->replay_window;
	sa->esn = p->esn;
	snprintf(sa->name, sizeof(sa->name), "%s", p->name);
	snprintf(sa->peer_id, sizeof(sa->peer_id), "%s", p->peer_id ? p->peer_id : "");
}

struct lg_sa *
lg_sa_create(const struct lg_sa_prm *p)
{
	struct rte_crypto_sym_xform xf;
	struct rte_ipsec_sa_prm ip;
	struct tun4_hdr tun;
	struct lg_sa *sa;
	int sz, rc;

	if (p->af != 4 || p->ndev == 0 || p->ndev > LG_CRYPTO_DEV_MAX ||
	    (p->key_len != 16 && p->key_len != 32)) {
		rte_errno = EINVAL;
		return NULL;
	}
	fill_tun4(&tun, p);
	fill_aead(&xf, p);
	fill_ipsec_prm(&ip, p, &xf, &tun);
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
	copy_cold(sa, p);
	sa->isa_size = (uint32_t)sz;
	sa->isa = rte_zmalloc_socket("lg_ipsec_sa", sz, RTE_CACHE_LINE_SIZE, p->socket);
	rc = sa->isa == NULL ? -ENOMEM : rte_ipsec_sa_init(sa->isa, &ip, sz);
	if (rc >= 0)
		rc = init_sessions(sa, p, &xf);
	if (rc >= 0 && p->dir == LG_SA_IN && p->replay_window > 0) {
		sa->rp = lg_replay_create(p->replay_window, p->esn, p->sqn_atom, p->socket);
		if (sa->rp == NULL)
			rc = -ENOMEM;
	}
	/* The PMD keeps its own (expanded) copy of the key. */
	explicit_bzero(&ip.ipsec_xform.salt, sizeof(ip.ipsec_xform.salt));
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
	explicit_bzero(sa, sizeof(*sa));
	rte_free(sa);
}
