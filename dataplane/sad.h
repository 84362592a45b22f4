/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef LG_SAD_H
#define LG_SAD_H

/*
 * Inbound SAD: SPI -> SA slot (RFC 4303 §2.1; for unicast SAs the SPI alone
 * selects the SA). Keys are the SPI as it sits in the packet (network
 * order), so the bulk lookup reads the packets directly.
 *
 * rte_hash with RW_CONCURRENCY_LF: one writer (control), lock-free readers.
 */

#include <stdint.h>
#include <rte_hash.h>

struct lg_sad {
	struct rte_hash *h;
};

/* control */
struct lg_sad *lg_sad_create(const char *name, uint32_t capacity, int socket);
void lg_sad_free(struct lg_sad *sad);
int lg_sad_add(struct lg_sad *sad, uint32_t spi, uint32_t slot);

/* worker: spis[] point at network-order SPIs; slots[i] valid where hit. */
static inline uint64_t
lg_sad_lookup_bulk(const struct lg_sad *sad, const void *spis[], uint32_t n,
		   uint32_t slots[])
{
	uint64_t hit = 0;
	void *data[RTE_HASH_LOOKUP_BULK_MAX];
	uint32_t i;

	if (rte_hash_lookup_bulk_data(sad->h, spis, n, &hit, data) < 0)
		return 0;
	for (i = 0; i < n; i++)
		slots[i] = (uint32_t)(uintptr_t)data[i];
	return hit;
}

#endif /* LG_SAD_H */
