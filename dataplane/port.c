/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_dev.h>
#include <rte_ethdev.h>

#include "port.h"

int
lg_port_open(const char *devargs)
{
	char name[RTE_ETH_NAME_MAX_LEN];
	size_t n = strcspn(devargs, ",");
	uint16_t port;
	int rc;

	if (n == 0 || n >= sizeof(name))
		return -EINVAL;
	memcpy(name, devargs, n);
	name[n] = '\0';
	if (rte_eth_dev_get_port_by_name(name, &port) == 0)
		return port;
	rc = rte_dev_probe(devargs);
	if (rc != 0 && rc != -EEXIST)
		return rc;
	if (rte_eth_dev_get_port_by_name(name, &port) != 0)
		return -ENODEV;
	return port;
}

int
lg_port_start(uint16_t port, uint16_t nq, struct rte_mempool *mp,
	      const struct rte_ether_addr *mac, char *err, size_t errlen)
{
	struct rte_eth_conf conf = { 0 };
	struct rte_eth_dev_info info;
	uint16_t q, nrx = LG_RX_DESC, ntx = LG_TX_DESC;
	int socket = rte_eth_dev_socket_id(port);
	int rc;

	rc = rte_eth_dev_info_get(port, &info);
	if (rc != 0)
		goto fail;
	if (info.max_rx_queues < nq || info.max_tx_queues < nq) {
		snprintf(err, errlen, "port %u offers %u rx / %u tx queues, %u workers need one each"
			 " (net_pcap: repeat rx_pcap=/tx_pcap= per queue)",
			 port, info.max_rx_queues, info.max_tx_queues, nq);
		return -EINVAL;
	}
	if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE)
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
	rc = rte_eth_dev_configure(port, nq, nq, &conf);
	if (rc == 0)
		rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nrx, &ntx);
	for (q = 0; rc == 0 && q < nq; q++)
		rc = rte_eth_rx_queue_setup(port, q, nrx, socket < 0 ? 0 : socket,
					    NULL, mp);
	for (q = 0; rc == 0 && q < nq; q++)
		rc = rte_eth_tx_queue_setup(port, q, ntx, socket < 0 ? 0 : socket, NULL);
	/* A vdev that cannot change its MAC (net_pcap) still sends with the
	 * configured one: the worker writes the source address itself. */
	if (rc == 0 && mac != NULL) {
		rc = rte_eth_dev_default_mac_addr_set(port, (struct rte_ether_addr *)mac);
		if (rc == -ENOTSUP)
			rc = 0;
	}
	if (rc == 0)
		rc = rte_eth_dev_start(port);
	if (rc == 0)
		return 0;
fail:
	snprintf(err, errlen, "port %u: setup failed: %s", port, rte_strerror(-rc));
	return rc;
}

void
lg_port_stop(uint16_t port)
{
	rte_eth_dev_stop(port);
	rte_eth_dev_close(port);
}
