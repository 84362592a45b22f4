/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SAs built by lg_sa_create on a real Intel IPsec-MB vdev (cpu crypto):
 * sequence numbers start at 1 and the SA refuses the packet that would make
 * the counter cycle (RFC 4303 §3.3.3), with and without ESN; NULL-free
 * teardown zeroes the object.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_esp.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include "crypto.h"
#include "harness.h"
#include "sa.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static struct rte_mempool *mp, *sess_mp;
static uint8_t dev;

static const uint8_t KEY[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
static const uint8_t SALT[4] = { 0xca, 0xfe, 0xba, 0xbe };

/* An outbound AES-128-GCM tunnel SA; direct: crypto.mode direct's. */
static struct lg_sa *
gcm_sa(uint32_t spi, uint64_t next_seq, bool esn, bool direct)
{
	struct lg_sa_prm p = {
		.name = "t", .peer_id = "fqdn:t", .dir = LG_SA_OUT, .spi = spi, .af = 4,
		.local = { 10, 0, 0, 1 }, .remote = { 10, 0, 0, 2 },
		.mode = LG_SA_M_TUNNEL, .inner_af = 4,
		.cipher = LG_SA_C_AES_GCM, .cipher_key = KEY, .cipher_key_len = 16, .salt = SALT,
		.auth = LG_SA_A_AEAD,
		.esn = esn, .next_seq = next_seq, .cpu = true, .direct = direct, .slot = 0,
		.dev_ids = &dev, .ndev = 1, .sess_mp = sess_mp, .socket = SOCKET_ID_ANY,
	};

	return lg_sa_create(&p);
}

static struct lg_sa *
out_sa(uint64_t next_seq, bool esn)
{
	return gcm_sa(0x1234, next_seq, esn, false);
}

static struct rte_mbuf *
plain_pkt(void)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);
	struct rte_ipv4_hdr *ip;
	char *d;

	if (m == NULL)
		return NULL;
	d = rte_pktmbuf_append(m, RTE_ETHER_HDR_LEN + sizeof(*ip) + 32);
	memset(d, 0, rte_pktmbuf_data_len(m));
	ip = (struct rte_ipv4_hdr *)(d + RTE_ETHER_HDR_LEN);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16(sizeof(*ip) + 32);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	m->l2_len = RTE_ETHER_HDR_LEN;
	m->l3_len = sizeof(*ip);
	return m;
}

/* Encrypt n packets on sa; returns how many the SA accepted and their seqs. */
static uint32_t
send_n(struct lg_sa *sa, uint32_t n, uint32_t seqs[], int *err)
{
	struct rte_mbuf *mb[8];
	uint32_t i, k, e;

	for (i = 0; i < n; i++)
		mb[i] = plain_pkt();
	rte_errno = 0;
	k = rte_ipsec_pkt_cpu_prepare(&sa->ss[0], mb, (uint16_t)n);
	*err = rte_errno;
	e = rte_ipsec_pkt_process(&sa->ss[0], mb, (uint16_t)k);
	for (i = 0; i < e; i++) {
		const struct rte_esp_hdr *esp = rte_pktmbuf_mtod_offset(mb[i],
			const struct rte_esp_hdr *, RTE_ETHER_HDR_LEN + sizeof(struct rte_ipv4_hdr));

		seqs[i] = rte_be_to_cpu_32(esp->seq);
	}
	rte_pktmbuf_free_bulk(mb, n);
	return e;
}

static void
test_first_sequence_number_is_1(void)
{
	struct lg_sa *sa = out_sa(0, false);
	uint32_t seqs[8];
	int err;

	CU_ASSERT_PTR_NOT_NULL_FATAL(sa);
	CU_ASSERT_EQUAL(send_n(sa, 3, seqs, &err), 3);
	CU_ASSERT_EQUAL(seqs[0], 1);
	CU_ASSERT_EQUAL(seqs[1], 2);
	CU_ASSERT_EQUAL(seqs[2], 3);
	lg_sa_free(sa);
}

static void
test_sequence_number_never_cycles(void)
{
	struct lg_sa *sa = out_sa(0xfffffffdull, false);
	uint32_t seqs[8];
	int err;

	CU_ASSERT_PTR_NOT_NULL_FATAL(sa);
	/* librte_ipsec stops one short of the limit: 0xffffffff is not sent
	 * either (conservative; what must never happen is 0 after 2^32 - 1). */
	CU_ASSERT_EQUAL(send_n(sa, 4, seqs, &err), 2);
	CU_ASSERT_EQUAL(err, EOVERFLOW);
	CU_ASSERT_EQUAL(seqs[0], 0xfffffffd);
	CU_ASSERT_EQUAL(seqs[1], 0xfffffffe);
	CU_ASSERT_EQUAL(send_n(sa, 1, seqs, &err), 0);
	CU_ASSERT_EQUAL(err, EOVERFLOW);
	lg_sa_free(sa);
}

static void
test_esn_carries_past_2_pow_32(void)
{
	struct lg_sa *sa = out_sa(0xffffffffull, true);
	uint32_t seqs[8];
	int err;

	CU_ASSERT_PTR_NOT_NULL_FATAL(sa);
	CU_ASSERT_EQUAL(send_n(sa, 3, seqs, &err), 3);
	/* Only the low 32 bits travel (RFC 4303 §2.2.1). */
	CU_ASSERT_EQUAL(seqs[0], 0xffffffff);
	CU_ASSERT_EQUAL(seqs[1], 0);
	CU_ASSERT_EQUAL(seqs[2], 1);
	lg_sa_free(sa);
}

/* crypto.mode direct: the same rules for esp.c's own counter. */
static struct lg_esp_ctx ectx;

static struct lg_sa *
direct_sa(uint64_t next_seq, bool esn)
{
	return gcm_sa(0x5678, next_seq, esn, true);
}

/* Encrypt n packets on a direct SA: how many it sent, their wire seqs. */
static uint32_t
send_direct(struct lg_sa *sa, uint32_t n, uint32_t seqs[], uint32_t *overflow)
{
	struct rte_mbuf *mb[8];
	uint8_t res[8];
	uint32_t i, k = 0;

	*overflow = 0;
	for (i = 0; i < n; i++) {
		mb[i] = plain_pkt();
		mb[i]->packet_type = RTE_PTYPE_L3_IPV4;
	}
	lg_esp_out(&ectx, sa, mb, n, res);
	for (i = 0; i < n; i++) {
		const struct rte_esp_hdr *esp = rte_pktmbuf_mtod_offset(mb[i],
			const struct rte_esp_hdr *, RTE_ETHER_HDR_LEN + sizeof(struct rte_ipv4_hdr));

		if (res[i] == LG_ESP_OK) {
			CU_ASSERT_EQUAL(rte_be_to_cpu_32(esp->spi), 0x5678);
			seqs[k++] = rte_be_to_cpu_32(esp->seq);
		} else if (res[i] == LG_ESP_SEQ_OVERFLOW) {
			(*overflow)++;
		}
	}
	rte_pktmbuf_free_bulk(mb, n);
	return k;
}

static void
test_direct_sequence_numbers(void)
{
	struct lg_sa *a = direct_sa(0, false), *b = direct_sa(0xfffffffdull, false);
	struct lg_sa *c = direct_sa(0xffffffffull, true);
	uint32_t seqs[8], ov;

	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_PTR_NOT_NULL(a->ek);      /* esp.c runs it, not librte_ipsec */
	CU_ASSERT_EQUAL(send_direct(a, 3, seqs, &ov), 3);
	CU_ASSERT(seqs[0] == 1 && seqs[1] == 2 && seqs[2] == 3 && ov == 0);
	/* 2^32 - 1 is the last one sent; the counter never cycles to 0. */
	CU_ASSERT_EQUAL(send_direct(b, 4, seqs, &ov), 3);
	CU_ASSERT(seqs[0] == 0xfffffffd && seqs[2] == 0xffffffff && ov == 1);
	CU_ASSERT_EQUAL(send_direct(b, 2, seqs, &ov), 0);
	CU_ASSERT_EQUAL(ov, 2);
	/* ESN: only the low 32 bits travel (RFC 4303 §2.2.1). */
	CU_ASSERT_EQUAL(send_direct(c, 3, seqs, &ov), 3);
	CU_ASSERT(seqs[0] == 0xffffffff && seqs[1] == 0 && seqs[2] == 1);
	lg_sa_free(a);
	lg_sa_free(b);
	lg_sa_free(c);
	/* Even a 64-bit counter stops at its end: 2^64 - 1 is the last, and
	 * the counter does not wrap to 1 for the next burst. */
	c = direct_sa(UINT64_MAX - 1, true);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(send_direct(c, 4, seqs, &ov), 2);
	CU_ASSERT(seqs[0] == 0xfffffffe && seqs[1] == 0xffffffff && ov == 2);
	CU_ASSERT_EQUAL(send_direct(c, 3, seqs, &ov), 0);
	CU_ASSERT_EQUAL(ov, 3);
	lg_sa_free(c);
}

/* LATCHING.md item 40 / RFC 4301 §4.2: the dataplane API itself refuses an
 * SA with NULL encryption and no integrity, whatever the config said. */
static void
test_null_null_is_refused(void)
{
	static const uint8_t akey[32] = { 7 };
	struct lg_sa_prm p = {
		.name = "nn", .dir = LG_SA_OUT, .mode = LG_SA_M_TUNNEL, .spi = 0x4321, .af = 4,
		.inner_af = 4, .local = { 10, 0, 0, 1 }, .remote = { 10, 0, 0, 2 },
		.cipher = LG_SA_C_NULL, .auth = LG_SA_A_NULL, .cpu = true,
		.dev_ids = &dev, .ndev = 1, .sess_mp = sess_mp, .socket = SOCKET_ID_ANY,
	};
	struct lg_sa *sa;

	rte_errno = 0;
	CU_ASSERT_PTR_NULL(lg_sa_create(&p));
	CU_ASSERT_EQUAL(rte_errno, EINVAL);
	/* NULL encryption with HMAC-SHA256 is allowed (RFC 2410). */
	p.auth = LG_SA_A_SHA256_128;
	p.auth_key = akey;
	p.auth_key_len = 32;
	/* aesni_gcm has no HMAC: the device, not the API, refuses it. */
	rte_errno = 0;
	sa = lg_sa_create(&p);
	CU_ASSERT_PTR_NULL(sa);
	CU_ASSERT_EQUAL(rte_errno, ENOTSUP);
}

static int
setup_crypto(void)
{
	int id = lg_crypto_dev_open("crypto_aesni_gcm_t0");

	mp = rte_pktmbuf_pool_create("t_mbuf", 1023, 0, LG_MBUF_PRIV_SIZE,
				     RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
	if (id < 0 || mp == NULL)
		return -1;
	dev = (uint8_t)id;
	if (lg_esp_ctx_init(&ectx, SOCKET_ID_ANY) != 0)
		return -1;
	sess_mp = lg_crypto_sess_pool_create(&dev, 1, 64, SOCKET_ID_ANY);
	return sess_mp == NULL || lg_crypto_dev_start(dev, 1, 128, sess_mp, SOCKET_ID_ANY) != 0 ?
	       -1 : 0;
}

int
main(int argc, char **argv)
{
	static const struct lg_test tests[] = {
		{ "sa: first sequence number is 1", test_first_sequence_number_is_1 },
		{ "sa: sequence number never cycles", test_sequence_number_never_cycles },
		{ "sa: ESN carries past 2^32", test_esn_carries_past_2_pow_32 },
		{ "sa: NULL encryption with NULL integrity is refused", test_null_null_is_refused },
		{ "sa: direct mode numbers from 1, stops at 2^32 - 1, ESN carries",
		  test_direct_sequence_numbers },
	};

	(void)argc;
	return lg_test_main(argv[0], "sa", "0", "crypto_aesni_gcm_t0", setup_crypto, tests,
			    ARRAY_SIZE(tests));
}
