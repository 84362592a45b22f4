/* SPDX-License-Identifier: BSD-3-Clause */
#include "event.h"

struct rte_ring *
lg_event_ring_create(const char *name, uint32_t count, int socket)
{
	return rte_ring_create_elem(name, sizeof(struct lg_event), count, socket, RING_F_SC_DEQ);
}
