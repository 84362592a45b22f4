/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef LG_PORT_H
#define LG_PORT_H

/*
 * Ethernet ports: a vdev ("net_pcap0,rx_pcap=...", "net_ring0") or a PCI
 * device, one RX and one TX queue per worker.
 */

#include <stdbool.h>
#include <stdint.h>
#include <rte_ether.h>
#include <rte_mempool.h>

#define LG_RX_DESC 1024
#define LG_TX_DESC 1024

/* control */
/* Probe (if needed) by devargs; returns the port id or -errno. */
int lg_port_open(const char *devargs);
int lg_port_start(uint16_t port, uint16_t nq, struct rte_mempool *mp,
		  const struct rte_ether_addr *mac, char *err, size_t errlen);
void lg_port_stop(uint16_t port);

#endif /* LG_PORT_H */
