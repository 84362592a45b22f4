/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Tunnel-mode ESP on Intel IPsec-MB, called by the worker (esp.h).
 * Wire format (RFC 4303 §2): outer IP [UDP, RFC 3948] | SPI | seq | IV |
 * inner packet | pad 1, 2, 3 ... | pad length | next header | ICV.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/random.h>

#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_udp.h>

#include "esp.h"
#include "pkt.h"
#include "sa.h"

#define ESP_HDR 8                 /* SPI + sequence number */
#define HMAC_BLOCK 64             /* SHA-1 and SHA-256 block size */

/* Key expansion runs on the control thread; the functions live in a
 * manager, which holds no key state, so one is kept for it. */
static IMB_MGR *setup_mgr;

static IMB_MGR *
mgr_setup(void)
{
	if (setup_mgr == NULL) {
		setup_mgr = alloc_mb_mgr(0);
		if (setup_mgr != NULL)
			init_mb_mgr_auto(setup_mgr, NULL);
	}
	return setup_mgr;
}

bool
lg_esp_supports(const struct lg_sa_prm *p)
{
	bool gcm = p->cipher == LG_SA_C_AES_GCM && p->auth == LG_SA_A_AEAD;
	bool cbc = p->cipher == LG_SA_C_AES_CBC &&
		   (p->auth == LG_SA_A_SHA1_96 || p->auth == LG_SA_A_SHA256_128) &&
		   p->auth_key_len <= HMAC_BLOCK;

	/* Inbound ESN needs the window to infer the high-order bits. */
	return p->mode == LG_SA_M_TUNNEL && (gcm || cbc) &&
	       (p->cipher_key_len == 16 || p->cipher_key_len == 32) &&
	       !(p->esn && p->dir == LG_SA_IN && p->replay_window == 0);
}

/* HMAC (RFC 2104): the hash state after one block of key xor ipad / opad,
 * which is what IPsec-MB's jobs start from. */
static void
hmac_pads(IMB_MGR *mgr, struct lg_esp_keys *k, const uint8_t *key, uint8_t len)
{
	uint8_t ib[HMAC_BLOCK], ob[HMAC_BLOCK];
	uint8_t i;

	memset(ib, 0x36, sizeof(ib));
	memset(ob, 0x5c, sizeof(ob));
	for (i = 0; i < len; i++) {
		ib[i] ^= key[i];
		ob[i] ^= key[i];
	}
	if (k->hash == IMB_AUTH_HMAC_SHA_1) {
		IMB_SHA1_ONE_BLOCK(mgr, ib, k->cbc.ipad);
		IMB_SHA1_ONE_BLOCK(mgr, ob, k->cbc.opad);
	} else {
		IMB_SHA256_ONE_BLOCK(mgr, ib, k->cbc.ipad);
		IMB_SHA256_ONE_BLOCK(mgr, ob, k->cbc.opad);
	}
	explicit_bzero(ib, sizeof(ib));
	explicit_bzero(ob, sizeof(ob));
}

struct lg_esp_keys *
lg_esp_keys_create(const struct lg_sa_prm *p)
{
	IMB_MGR *mgr = mgr_setup();
	struct lg_esp_keys *k;

	if (!lg_esp_supports(p)) {
		rte_errno = EINVAL;
		return NULL;
	}
	if (mgr == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	k = rte_zmalloc_socket("lg_esp_keys", sizeof(*k), RTE_CACHE_LINE_SIZE, p->socket);
	if (k == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	k->key_len = p->cipher_key_len;
	if (p->cipher == LG_SA_C_AES_GCM) {
		memcpy(k->salt, p->salt, sizeof(k->salt));
		if (k->key_len == 16)
			IMB_AES128_GCM_PRE(mgr, p->cipher_key, &k->gcm);
		else
			IMB_AES256_GCM_PRE(mgr, p->cipher_key, &k->gcm);
		return k;
	}
	if (k->key_len == 16)
		IMB_AES_KEYEXP_128(mgr, p->cipher_key, k->cbc.enc, k->cbc.dec);
	else
		IMB_AES_KEYEXP_256(mgr, p->cipher_key, k->cbc.enc, k->cbc.dec);
	k->hash = p->auth == LG_SA_A_SHA1_96 ? IMB_AUTH_HMAC_SHA_1 : IMB_AUTH_HMAC_SHA_256;
	hmac_pads(mgr, k, p->auth_key, p->auth_key_len);
	if (getrandom(k->nonce, sizeof(k->nonce), 0) != (ssize_t)sizeof(k->nonce)) {
		lg_esp_keys_free(k);
		rte_errno = EIO;
		return NULL;
	}
	return k;
}

void
lg_esp_keys_free(struct lg_esp_keys *k)
{
	if (k == NULL)
		return;
	explicit_bzero(k, sizeof(*k));
	rte_free(k);
}

int
lg_esp_ctx_init(struct lg_esp_ctx *c, int socket)
{
	void *mem = rte_zmalloc_socket("lg_imb_mgr", imb_get_mb_mgr_size(), 64, socket);

	memset(c, 0, sizeof(*c));
	if (mem == NULL)
		return -ENOMEM;
	c->mem = mem;
	c->mgr = imb_set_pointers_mb_mgr(mem, 0, 1);
	if (c->mgr == NULL) {
		rte_free(mem);
		memset(c, 0, sizeof(*c));
		return -EINVAL;
	}
	init_mb_mgr_auto(c->mgr, NULL);
	if (imb_get_errno(c->mgr) != 0) {
		rte_free(mem);
		memset(c, 0, sizeof(*c));
		return -ENOTSUP;
	}
	return 0;
}

void
lg_esp_ctx_fini(struct lg_esp_ctx *c)
{
	rte_free(c->mem);
	/* GCM scratch may hold keystream-derived state. */
	explicit_bzero(c, sizeof(*c));
}

/* ---- worker ------------------------------------------------------------ */

static inline void
put_be32(uint8_t *p, uint32_t v)
{
	v = rte_cpu_to_be_32(v);
	memcpy(p, &v, 4);
}

static inline void
put_be64(uint8_t *p, uint64_t v)
{
	v = rte_cpu_to_be_64(v);
	memcpy(p, &v, 8);
}

/* Constant time: how much of a forged tag matched must not show. */
static inline bool
tag_eq(const uint8_t *a, const uint8_t *b, uint32_t len)
{
	uint64_t a0, a1, b0, b1;
	uint32_t a2 = 0, b2 = 0;

	memcpy(&a0, a, 8);
	memcpy(&b0, b, 8);
	if (len == 16) {
		memcpy(&a1, a + 8, 8);
		memcpy(&b1, b + 8, 8);
	} else {          /* 12 */
		memcpy(&a2, a + 8, 4);
		memcpy(&b2, b + 8, 4);
		a1 = b1 = 0;
	}
	return ((a0 ^ b0) | (a1 ^ b1) | (a2 ^ b2)) == 0;
}

union blk16 {
	uint8_t b[16];
	uint64_t q[2];
};

/*
 * GCM nonce (RFC 4106 §4: salt || the 8 IV bytes on the wire, given as
 * loaded) and AAD (§5: SPI || seq_lo, or SPI || seq_hi || seq_lo with
 * ESN), both directions. Built in registers and stored whole: the
 * library's wide loads then forward from one store each instead of
 * stalling on several. Returns the AAD length.
 */
static inline uint64_t
gcm_nonce(union blk16 *iv, union blk16 *ad, const struct lg_esp_keys *k, const uint8_t *spi,
	  uint64_t wire_iv, uint64_t seq, bool esn)
{
	uint32_t salt, s;

	memcpy(&salt, k->salt, 4);
	memcpy(&s, spi, 4);
	iv->q[0] = salt | wire_iv << 32;
	iv->q[1] = wire_iv >> 32;
	if (!esn) {
		ad->q[0] = s | (uint64_t)rte_cpu_to_be_32((uint32_t)seq) << 32;
		return 8;
	}
	ad->q[0] = s | (uint64_t)rte_cpu_to_be_32((uint32_t)(seq >> 32)) << 32;
	ad->q[1] = rte_cpu_to_be_32((uint32_t)seq);
	return 12;
}

/* One AES-GCM call, the key size the SA's (RFC 4106). */
static inline void
gcm_run(struct lg_esp_ctx *c, const struct lg_esp_keys *k, bool enc, uint8_t *data,
	uint64_t len, const union blk16 *iv, const union blk16 *ad, uint64_t alen, uint8_t *tag)
{
	if (enc && k->key_len == 16)
		IMB_AES128_GCM_ENC(c->mgr, &k->gcm, &c->gcm_ctx, data, data, len, iv->b, ad->b,
				   alen, tag, 16);
	else if (enc)
		IMB_AES256_GCM_ENC(c->mgr, &k->gcm, &c->gcm_ctx, data, data, len, iv->b, ad->b,
				   alen, tag, 16);
	else if (k->key_len == 16)
		IMB_AES128_GCM_DEC(c->mgr, &k->gcm, &c->gcm_ctx, data, data, len, iv->b, ad->b,
				   alen, tag, 16);
	else
		IMB_AES256_GCM_DEC(c->mgr, &k->gcm, &c->gcm_ctx, data, data, len, iv->b, ad->b,
				   alen, tag, 16);
}

static inline void
cbc_job(IMB_JOB *j, const struct lg_esp_keys *k, uint8_t *esp, uint32_t coff,
	uint32_t clen, uint32_t hlen, const uint8_t *iv, uint8_t *tag, uint8_t tag_len,
	bool enc)
{
	j->src = esp;
	j->dst = esp + coff;
	j->cipher_start_src_offset_in_bytes = coff;
	j->msg_len_to_cipher_in_bytes = clen;
	j->hash_start_src_offset_in_bytes = 0;
	j->msg_len_to_hash_in_bytes = hlen;
	j->iv = iv;
	j->iv_len_in_bytes = 16;
	j->cipher_mode = IMB_CIPHER_CBC;
	j->cipher_direction = enc ? IMB_DIR_ENCRYPT : IMB_DIR_DECRYPT;
	j->chain_order = enc ? IMB_ORDER_CIPHER_HASH : IMB_ORDER_HASH_CIPHER;
	j->enc_keys = k->cbc.enc;
	j->dec_keys = k->cbc.dec;
	j->key_len_in_bytes = k->key_len;
	j->hash_alg = (IMB_HASH_ALG)k->hash;
	j->auth_tag_output = tag;
	j->auth_tag_output_len_in_bytes = tag_len;
	j->u.HMAC._hashed_auth_key_xor_ipad = k->cbc.ipad;
	j->u.HMAC._hashed_auth_key_xor_opad = k->cbc.opad;
}

/* RFC 4303 §2.4 default padding, stored 16 bytes at a time. */
static const uint8_t pad_bytes[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

/* The frame start, in moves of a known size (a call to memcpy otherwise). */
static inline void
hdr_copy(uint8_t *h, const struct lg_sa *sa)
{
	switch (sa->hdr_len) {
	case 14 + 20 + 4: memcpy(h, sa->hdr, 14 + 20 + 4); break;
	case 14 + 20 + 8 + 4: memcpy(h, sa->hdr, 14 + 20 + 8 + 4); break;
	case 14 + 40 + 4: memcpy(h, sa->hdr, 14 + 40 + 4); break;
	default: memcpy(h, sa->hdr, 14 + 40 + 8 + 4); break;
	}
}

/* The CBC + HMAC jobs c->jobs[0..n-1] of one SA: cipher and hash as two
 * bursts, in the order the direction needs. False if a burst refused them
 * (lengths are built here, so that would be a bug; the packets drop). */
static bool
cbc_bursts(struct lg_esp_ctx *c, const struct lg_esp_keys *k, uint32_t n, bool enc)
{
	IMB_KEY_SIZE_BYTES ks = k->key_len == 16 ? IMB_KEY_128_BYTES : IMB_KEY_256_BYTES;
	IMB_HASH_ALG h = (IMB_HASH_ALG)k->hash;

	if (enc)
		return IMB_SUBMIT_CIPHER_BURST(c->mgr, c->jobs, n, IMB_CIPHER_CBC, IMB_DIR_ENCRYPT,
					       ks) == n &&
		       IMB_SUBMIT_HASH_BURST(c->mgr, c->jobs, n, h) == n;
	return IMB_SUBMIT_HASH_BURST(c->mgr, c->jobs, n, h) == n &&
	       IMB_SUBMIT_CIPHER_BURST(c->mgr, c->jobs, n, IMB_CIPHER_CBC, IMB_DIR_DECRYPT,
				       ks) == n;
}

/*
 * RFC 4303 §3.3.3: sequence numbers are taken once, in order, and never
 * cycle. Takes up to n after sa->sqn (*got of them, fewer only at the
 * limit, where every later packet is refused) and returns the first. The
 * counter stops at max, so even a 64-bit one never wraps; with several
 * workers a CAS, so none can push it past the limit for another.
 */
static inline uint64_t
seq_take(struct lg_sa *sa, uint32_t n, uint64_t max, uint32_t *got)
{
	uint64_t old, take;

	if (!sa->sqn_atom) {
		old = sa->sqn;
		take = old >= max ? 0 : RTE_MIN((uint64_t)n, max - old);
		sa->sqn = old + take;
	} else {
		old = __atomic_load_n(&sa->sqn, __ATOMIC_RELAXED);
		do {
			take = old >= max ? 0 : RTE_MIN((uint64_t)n, max - old);
		} while (take != 0 &&
			 !__atomic_compare_exchange_n(&sa->sqn, &old, old + take, false,
						      __ATOMIC_RELAXED, __ATOMIC_RELAXED));
	}
	*got = (uint32_t)take;
	return old + 1;
}

void
lg_esp_out(struct lg_esp_ctx *c, struct lg_sa *sa, struct rte_mbuf *mb[], uint32_t n,
	   uint8_t res[])
{
	const struct lg_esp_keys *k = sa->ek;
	uint8_t nonce[LG_ESP_BURST][16], tag[LG_ESP_BURST][16], *icv[LG_ESP_BURST];
	uint32_t hlen = sa->hdr_len + 4 + sa->iv_len;   /* to the inner packet */
	uint32_t align = sa->pad_align, i;
	uint64_t first, max = sa->esn ? UINT64_MAX : UINT32_MAX;
	bool esn = sa->esn, ok;
	uint32_t nj = 0, got;
	IMB_JOB *j;

	RTE_ASSERT(n <= LG_ESP_BURST);
	first = seq_take(sa, n, max, &got);
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = mb[i];
		uint64_t seq = first + i;
		uint32_t plen = rte_pktmbuf_pkt_len(m) - LG_L2_LEN;
		uint32_t ct = (plen + 2 + align - 1) & ~(align - 1);
		uint32_t pad = ct - plen - 2, tail = pad + 2 + sa->icv_len, tot, p;
		uint8_t *h, *t, *esp;

		res[i] = LG_ESP_OK;
		if (unlikely(i >= got)) {
			res[i] = LG_ESP_SEQ_OVERFLOW;
			continue;
		}
		if (unlikely(rte_pktmbuf_headroom(m) < hlen - LG_L2_LEN ||
			     rte_pktmbuf_tailroom(m) < tail)) {
			res[i] = LG_ESP_NO_ROOM;
			continue;
		}
		t = (uint8_t *)rte_pktmbuf_append(m, (uint16_t)tail);
		h = (uint8_t *)rte_pktmbuf_prepend(m, (uint16_t)(hlen - LG_L2_LEN));
		hdr_copy(h, sa);
		tot = rte_pktmbuf_pkt_len(m) - LG_L2_LEN;
		if (sa->af == 4) {
			struct rte_ipv4_hdr *o4 = (struct rte_ipv4_hdr *)(h + LG_L2_LEN);

			o4->total_length = rte_cpu_to_be_16((uint16_t)tot);
			o4->packet_id = rte_cpu_to_be_16((uint16_t)seq);
		} else {
			struct rte_ipv6_hdr *o6 = (struct rte_ipv6_hdr *)(h + LG_L2_LEN);

			o6->payload_len = rte_cpu_to_be_16((uint16_t)(tot - sizeof(*o6)));
		}
		if (sa->encap_udp) {
			struct rte_udp_hdr *u = (struct rte_udp_hdr *)(h + LG_L2_LEN + sa->l3_len);

			u->dgram_len = rte_cpu_to_be_16((uint16_t)(tot - sa->l3_len));
		}
		m->l2_len = LG_L2_LEN;
		m->l3_len = sa->l3_len;
		esp = h + sa->hdr_len - 4;
		put_be32(esp + 4, (uint32_t)seq);
		if (likely(rte_pktmbuf_tailroom(m) >= 16)) {
			memcpy(t, pad_bytes, 16);   /* the ICV and slack cover the rest */
		} else {
			for (p = 0; p < pad; p++)
				t[p] = (uint8_t)(p + 1);
		}
		t[pad] = (uint8_t)pad;
		t[pad + 1] = sa->next_proto;
		icv[i] = t + pad + 2;
		if (sa->ek_gcm) {
			union blk16 iv, ad;
			uint64_t sbe = rte_cpu_to_be_64(seq);   /* the IV: RFC 4106 §3.1 */
			/* the SPI from the template, not the copy just stored */
			uint64_t alen = gcm_nonce(&iv, &ad, k, sa->hdr + sa->hdr_len - 4, sbe, seq,
						  esn);

			memcpy(esp + ESP_HDR, &sbe, 8);
			gcm_run(c, k, true, esp + 16, ct, &iv, &ad, alen, icv[i]);
			continue;
		}
		/* CBC: the IV slot holds a zero block that the job encrypts
		 * first, with N as the IV: it becomes E_K(N). With ESN the
		 * ICV covers seq_hi after the ciphertext (RFC 4303 §3.3.2.1),
		 * put where the ICV goes until the tag is copied there. */
		memset(esp + ESP_HDR, 0, 16);
		memcpy(nonce[i], k->nonce, 8);
		put_be64(nonce[i] + 8, seq);
		if (esn)
			put_be32(icv[i], (uint32_t)(seq >> 32));
		j = &c->jobs[nj];
		cbc_job(j, k, esp, ESP_HDR, 16 + ct, ESP_HDR + 16 + ct + (esn ? 4 : 0), nonce[i],
			esn ? tag[i] : icv[i], sa->icv_len, true);
		j->user_data2 = (void *)(uintptr_t)i;
		nj++;
	}
	if (nj == 0)
		return;
	/* Encrypt every packet, then authenticate every packet: two
	 * synchronous bursts (~60 cycles a packet less than the job queue,
	 * which needs a flush at the end of every burst). */
	ok = cbc_bursts(c, k, nj, true);
	/* The per-SA value must stay secret for the IVs to stay unguessable. */
	explicit_bzero(nonce, sizeof(nonce));
	for (i = 0; i < nj; i++) {
		uint32_t x = (uint32_t)(uintptr_t)c->jobs[i].user_data2;

		if (!ok || c->jobs[i].status != IMB_STATUS_COMPLETED)
			res[x] = LG_ESP_CRYPTO_FAILED;
		else if (esn)
			memcpy(icv[x], tag[x], sa->icv_len);
	}
}

void
lg_esp_in(struct lg_esp_ctx *c, const struct lg_sa *sa, struct rte_mbuf *mb[], uint32_t n)
{
	const struct lg_esp_keys *k = sa->ek;
	uint8_t tag[LG_ESP_BURST][16], icv[LG_ESP_BURST][16];
	bool esn = sa->esn, ok;
	uint32_t i, nj = 0;
	IMB_JOB *j;

	RTE_ASSERT(n <= LG_ESP_BURST);
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = mb[i];
		uint32_t off = m->l2_len + m->l3_len;
		uint8_t *esp = rte_pktmbuf_mtod_offset(m, uint8_t *, off);
		uint32_t ct = rte_pktmbuf_pkt_len(m) - off - ESP_HDR - sa->iv_len - sa->icv_len;
		uint8_t *wire_icv = esp + ESP_HDR + sa->iv_len + ct;
		uint64_t seq;

		m->ol_flags &= ~RTE_MBUF_F_RX_SEC_OFFLOAD_FAILED;
		if (sa->rp != NULL) {
			seq = lg_mbuf_meta(m)->seq;
		} else {
			uint32_t s;

			memcpy(&s, esp + 4, 4);
			seq = rte_be_to_cpu_32(s);
		}
		if (sa->ek_gcm) {
			union blk16 iv, ad;
			uint64_t w, alen;

			memcpy(&w, esp + ESP_HDR, 8);
			alen = gcm_nonce(&iv, &ad, k, esp, w, seq, esn);
			gcm_run(c, k, false, esp + 16, ct, &iv, &ad, alen, tag[i]);
			if (!tag_eq(tag[i], wire_icv, 16))
				m->ol_flags |= RTE_MBUF_F_RX_SEC_OFFLOAD_FAILED;
			continue;
		}
		memcpy(icv[i], wire_icv, sa->icv_len);
		if (esn)
			put_be32(wire_icv, (uint32_t)(seq >> 32));
		j = &c->jobs[nj++];
		cbc_job(j, k, esp, ESP_HDR + 16, ct, ESP_HDR + 16 + ct + (esn ? 4 : 0),
			esp + ESP_HDR, tag[i], sa->icv_len, false);
		j->user_data2 = (void *)(uintptr_t)i;
	}
	if (nj == 0)
		return;
	/* Authenticate the ciphertext, then decrypt it in place. */
	ok = cbc_bursts(c, k, nj, false);
	for (i = 0; i < nj; i++) {
		uint32_t x = (uint32_t)(uintptr_t)c->jobs[i].user_data2;

		if (!ok || c->jobs[i].status != IMB_STATUS_COMPLETED ||
		    !tag_eq(tag[x], icv[x], sa->icv_len))
			mb[x]->ol_flags |= RTE_MBUF_F_RX_SEC_OFFLOAD_FAILED;
	}
}

void
lg_esp_in_strip(const struct lg_sa *sa, struct rte_mbuf *m)
{
	uint32_t len = rte_pktmbuf_pkt_len(m);
	uint8_t pad = *rte_pktmbuf_mtod_offset(m, const uint8_t *, len - sa->icv_len - 2);

	rte_pktmbuf_trim(m, (uint16_t)(pad + 2u + sa->icv_len));
	rte_pktmbuf_adj(m, (uint16_t)(m->l2_len + m->l3_len + ESP_HDR + sa->iv_len));
}
