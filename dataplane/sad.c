/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>

#include "sad.h"

/* rte_hash compares keys that are not a multiple of 16 bytes with libc
 * memcmp (a call per hit, about 1 % of the inbound loop); an SPI is one
 * word. */
static int
spi_cmp(const void *a, const void *b, size_t len)
{
	uint32_t x, y;

	(void)len;
	memcpy(&x, a, sizeof(x));
	memcpy(&y, b, sizeof(y));
	return x != y;
}

struct lg_sad *
lg_sad_create(const char *name, uint32_t capacity, int socket)
{
	struct rte_hash_parameters prm = {
		.name = name,
		.entries = capacity < 64 ? 64 : capacity,
		.key_len = sizeof(uint32_t),
		.hash_func = rte_hash_crc,
		.socket_id = socket,
		.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF,
	};
	struct lg_sad *sad;

	sad = rte_zmalloc_socket(name, sizeof(*sad), 0, socket);
	if (sad == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	sad->h = rte_hash_create(&prm);
	if (sad->h == NULL) {
		rte_free(sad);
		return NULL;
	}
	rte_hash_set_cmp_func(sad->h, spi_cmp);
	return sad;
}

void
lg_sad_free(struct lg_sad *sad)
{
	if (sad == NULL)
		return;
	rte_hash_free(sad->h);
	rte_free(sad);
}

int
lg_sad_add(struct lg_sad *sad, uint32_t spi, struct lg_sa *sa)
{
	uint32_t key = rte_cpu_to_be_32(spi);

	return rte_hash_add_key_data(sad->h, &key, sa);
}

struct lg_sa *
lg_sad_find(const struct lg_sad *sad, uint32_t spi)
{
	uint32_t key = rte_cpu_to_be_32(spi);
	void *data;

	return rte_hash_lookup_data(sad->h, &key, &data) >= 0 ? data : NULL;
}

int32_t
lg_sad_del(struct lg_sad *sad, uint32_t spi)
{
	uint32_t key = rte_cpu_to_be_32(spi);

	return rte_hash_del_key(sad->h, &key);
}

void
lg_sad_free_pos(struct lg_sad *sad, int32_t pos)
{
	if (pos >= 0)
		rte_hash_free_key_with_position(sad->h, pos);
}
