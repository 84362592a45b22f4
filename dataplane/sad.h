/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef LG_SAD_H
#define LG_SAD_H

/*
 * Inbound SAD: SPI -> SA (RFC 4303 §2.1; for unicast SAs the SPI alone
 * selects the SA). Keys are the SPI as it sits in the packet (network
 * order), so the bulk lookup reads the packets directly. The data is the
 * SA itself, not its slot: during a rekey overlap the old SA is still found
 * by its old SPI while the slot already holds the new one.
 *
 * rte_hash with RW_CONCURRENCY_LF: one writer (control), lock-free readers.
 * A deleted key's slot is reused only after lg_sad_free_pos(), which the
 * control thread calls after a grace period.
 */

#include <stdint.h>
#include <rte_hash.h>

struct lg_sa;

struct lg_sad {
	struct rte_hash *h;
};

/* control */
struct lg_sad *lg_sad_create(const char *name, uint32_t capacity, int socket);
void lg_sad_free(struct lg_sad *sad);
/* Add, or atomically repoint an existing SPI. spi in host order. */
int lg_sad_add(struct lg_sad *sad, uint32_t spi, struct lg_sa *sa);
/* The SA an SPI leads to, or NULL. */
struct lg_sa *lg_sad_find(const struct lg_sad *sad, uint32_t spi);
/* Unmap an SPI; returns the key position to free after a grace period, or
 * a negative errno. */
int32_t lg_sad_del(struct lg_sad *sad, uint32_t spi);
void lg_sad_free_pos(struct lg_sad *sad, int32_t pos);

/* worker: spis[] point at network-order SPIs; sas[i] valid where hit. */
static inline uint64_t
lg_sad_lookup_bulk(const struct lg_sad *sad, const void *spis[], uint32_t n,
		   struct lg_sa *sas[])
{
	uint64_t hit = 0;

	if (rte_hash_lookup_bulk_data(sad->h, spis, n, &hit, (void **)sas) < 0)
		return 0;
	return hit;
}

#endif /* LG_SAD_H */
