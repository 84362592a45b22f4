/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The crypto of one ESP packet on Intel IPsec-MB alone, called the way
 * crypto.mode direct calls it (dataplane/esp.c), for scripts/bench.py: the
 * cost below which no gateway on this library can go, next to
 * dpdk-test-crypto-perf's (which adds the PMD's op and session handling).
 *
 *   bench_imb SUITE enc|dec LEN [LEN ...]
 *
 * SUITE: aes128gcm, aes256gcm, aes128cbc-sha1, aes128cbc-sha256; LEN: the
 * bytes the cipher runs over (the padded ESP payload). GCM: one call per
 * packet, AAD 8 bytes. CBC: bursts of 32 jobs, a cipher burst and a hash
 * burst; encryption covers the IV block too (esp.c derives the IV with
 * it), the HMAC covers ESP header, IV and ciphertext. Prints one line per
 * length: "json: {...}" with TSC cycles per packet (median of 5 runs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <intel-ipsec-mb.h>
#include <x86intrin.h>

#define BURST 32
#define BUF 2048
#define RUNS 5

static uint8_t buf[BURST][BUF] __attribute__((aligned(64)));
static uint8_t tag[BURST][16], iv[BURST][16];
static uint8_t enc_k[16 * 15] __attribute__((aligned(16))), dec_k[16 * 15] __attribute__((aligned(16)));
static uint8_t ipad[32] __attribute__((aligned(16))), opad[32] __attribute__((aligned(16)));
static struct gcm_key_data gk __attribute__((aligned(64)));
static struct gcm_context_data gc __attribute__((aligned(64)));
static IMB_JOB jobs[BURST];

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void
gcm(IMB_MGR *m, int k256, int dec, uint32_t len)
{
	static const uint8_t aad[8] = { 1 };
	uint32_t i;

	for (i = 0; i < BURST; i++) {
		uint8_t *p = buf[i];

		if (dec)
			k256 ? IMB_AES256_GCM_DEC(m, &gk, &gc, p + 16, p + 16, len, iv[i], aad, 8,
						  tag[i], 16)
			     : IMB_AES128_GCM_DEC(m, &gk, &gc, p + 16, p + 16, len, iv[i], aad, 8,
						  tag[i], 16);
		else
			k256 ? IMB_AES256_GCM_ENC(m, &gk, &gc, p + 16, p + 16, len, iv[i], aad, 8,
						  tag[i], 16)
			     : IMB_AES128_GCM_ENC(m, &gk, &gc, p + 16, p + 16, len, iv[i], aad, 8,
						  tag[i], 16);
	}
}

static int
cbc(IMB_MGR *m, IMB_HASH_ALG h, uint8_t tlen, int dec, uint32_t len)
{
	uint32_t i, clen = dec ? len : len + 16, coff = dec ? 24 : 8;

	for (i = 0; i < BURST; i++) {
		IMB_JOB *j = &jobs[i];

		j->src = buf[i];
		j->dst = buf[i] + coff;
		j->cipher_start_src_offset_in_bytes = coff;
		j->msg_len_to_cipher_in_bytes = clen;
		j->hash_start_src_offset_in_bytes = 0;
		j->msg_len_to_hash_in_bytes = 24 + len;
		j->iv = iv[i];
		j->iv_len_in_bytes = 16;
		j->cipher_mode = IMB_CIPHER_CBC;
		j->cipher_direction = dec ? IMB_DIR_DECRYPT : IMB_DIR_ENCRYPT;
		j->chain_order = dec ? IMB_ORDER_HASH_CIPHER : IMB_ORDER_CIPHER_HASH;
		j->enc_keys = enc_k;
		j->dec_keys = dec_k;
		j->key_len_in_bytes = 16;
		j->hash_alg = h;
		j->auth_tag_output = tag[i];
		j->auth_tag_output_len_in_bytes = tlen;
		j->u.HMAC._hashed_auth_key_xor_ipad = ipad;
		j->u.HMAC._hashed_auth_key_xor_opad = opad;
	}
	if (dec)
		return IMB_SUBMIT_HASH_BURST(m, jobs, BURST, h) == BURST &&
		       IMB_SUBMIT_CIPHER_BURST(m, jobs, BURST, IMB_CIPHER_CBC, IMB_DIR_DECRYPT,
					       IMB_KEY_128_BYTES) == BURST;
	return IMB_SUBMIT_CIPHER_BURST(m, jobs, BURST, IMB_CIPHER_CBC, IMB_DIR_ENCRYPT,
				       IMB_KEY_128_BYTES) == BURST &&
	       IMB_SUBMIT_HASH_BURST(m, jobs, BURST, h) == BURST;
}

int
main(int argc, char **argv)
{
	static const uint8_t key[32] = { 0x11 };
	IMB_MGR *m = alloc_mb_mgr(0);
	int a, dec, isgcm, k256 = 0, sha1 = 0;
	IMB_ARCH arch;

	if (argc < 4 || m == NULL) {
		fprintf(stderr, "usage: bench_imb SUITE enc|dec LEN [LEN ...]\n");
		return 2;
	}
	init_mb_mgr_auto(m, &arch);
	isgcm = strstr(argv[1], "gcm") != NULL;
	k256 = strncmp(argv[1], "aes256", 6) == 0;
	sha1 = strstr(argv[1], "sha1") != NULL;
	dec = strcmp(argv[2], "dec") == 0;
	if ((!isgcm && strncmp(argv[1], "aes128cbc-sha", 13) != 0) || (!isgcm && k256)) {
		fprintf(stderr, "bench_imb: suite %s not measured\n", argv[1]);
		return 2;
	}
	if (isgcm) {
		if (k256)
			IMB_AES256_GCM_PRE(m, key, &gk);
		else
			IMB_AES128_GCM_PRE(m, key, &gk);
	} else {
		IMB_AES_KEYEXP_128(m, key, enc_k, dec_k);
	}
	for (a = 3; a < argc; a++) {
		uint32_t len = (uint32_t)atoi(argv[a]);
		uint32_t iters = len > 512 ? 3000 : 20000, it, r;
		double run[RUNS];

		if (len == 0 || len + 64 > BUF || (!isgcm && len % 16 != 0)) {
			fprintf(stderr, "bench_imb: bad length %s\n", argv[a]);
			return 2;
		}
		for (r = 0; r < RUNS; r++) {
			uint64_t t0 = __rdtsc();

			for (it = 0; it < iters; it++) {
				if (isgcm)
					gcm(m, k256, dec, len);
				else if (!cbc(m, sha1 ? IMB_AUTH_HMAC_SHA_1 : IMB_AUTH_HMAC_SHA_256,
					       sha1 ? 12 : 16, dec, len))
					return 1;
			}
			run[r] = (double)(__rdtsc() - t0) / ((double)iters * BURST);
		}
		qsort(run, RUNS, sizeof(run[0]), cmp);
		printf("json: {\"suite\": \"%s\", \"dir\": \"%s\", \"len\": %u, \"cycles\": %.1f}\n",
		       argv[1], argv[2], len, run[RUNS / 2]);
	}
	free_mb_mgr(m);
	return 0;
}
