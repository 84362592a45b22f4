/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * control/config.c: YAML -> struct lg_conf. Tables of configs: one full valid
 * file checked field by field, small accepted variants, and rejected files
 * with the exact one-line message each must produce (conf/README.md "Errors"
 * is the reference; a changed message should change both), the warnings of
 * valid files, and the shipped conf/latchgate.yaml.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const uint8_t KEY128[16] = {
	0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
	0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
};
static const uint8_t KEY160[20] = {
	0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23,
	0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67,
};
/* Key text for the YAML; K16, K20 and K32 spell KEY128, KEY160 and 00 01 .. 1f. */
#define K16 "0x00112233445566778899aabbccddeeff"
#define K20 "0x0123456789abcdef0123456789abcdef01234567"
#define K32 "0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static const char VALID[] =
	"eal: [-l, \"0-1\", -n, \"1\", --file-prefix, latchgate]\n"
	"ports:\n"
	"  - name: lan\n"
	"    role: protected\n"
	"    device: \"net_pcap0,rx_pcap=/tmp/in.pcap\"\n"
	"    address: 192.168.1.254\n"
	"  - name: wan\n"
	"    role: unprotected\n"
	"    device: \"net_pcap1,tx_pcap=/tmp/out.pcap\"\n"
	"    address: 172.16.1.5\n"
	"    mac: \"02:00:00:00:00:01\"\n"
	"peers:\n"
	"  - name: site-b\n"
	"    id: \"fqdn:gw-b.example.net\"\n"
	"    address: 172.16.2.5\n"
	"sas:\n"
	"  - name: to-b\n"
	"    direction: outbound\n"
	"    spi: 0x1000\n"
	"    peer: site-b\n"
	"    mode: tunnel\n"
	"    local: 172.16.1.5\n"
	"    remote: 172.16.2.5\n"
	"    aead: { algorithm: aes-128-gcm, key: \"0x00112233445566778899aabbccddeeff\","
	" salt: \"0x01020304\" }\n"
	"  - name: from-b\n"
	"    direction: inbound\n"
	"    spi: 8192\n"
	"    peer: site-b\n"
	"    local: 172.16.1.5\n"
	"    remote: 172.16.2.5\n"
	"    aead:\n"
	"      algorithm: aes-256-gcm\n"
	"      key: \"0x000102030405060708090A0B0C0D0E0F101112131415161718191a1b1c1d1e1f\"\n"
	"      salt: \"0xa0b0c0d0\"\n"
	"    replay_window: 64\n"
	"    esn: yes\n"
	"policies:\n"
	"  - name: lan-to-b\n"
	"    direction: outbound\n"
	"    priority: 10\n"
	"    src: 192.168.1.0/24\n"
	"    dst: 192.168.2.0/24\n"
	"    proto: any\n"
	"    action: protect\n"
	"    sa: to-b\n"
	"  - { name: ike, direction: inbound, priority: 1, proto: udp, dport: [500, 4500],"
	" action: bypass }\n"
	"  - { name: web, direction: inbound, priority: 20, dst: 192.168.1.10, proto: tcp,"
	" sport: \"1024-65535\", dport: 443, action: discard }\n"
	"  - { name: b-to-lan, direction: inbound, priority: 30, src: 192.168.2.0/24,"
	" dst: 192.168.1.0/24, action: protect, sa: from-b }\n"
	"routes:\n"
	"  - { dst: 172.16.2.0/24, port: wan, next_hop_mac: \"02:00:00:00:00:0a\" }\n"
	"  - { dst: 192.168.1.0/24, port: lan, next_hop_mac: \"02:00:00:00:00:0B\" }\n";

static struct lg_conf *parse(const char *yaml, char *err)
{
	return lg_config_parse(yaml, strlen(yaml), "test.yaml", err, LG_ERR_MAX);
}

static void check_valid_ports(const struct lg_conf *c)
{
	char buf[64];

	CU_ASSERT_EQUAL_FATAL(c->nports, 2);
	CU_ASSERT_STRING_EQUAL(c->ports[0].name, "lan");
	CU_ASSERT_EQUAL(c->ports[0].role, LG_ROLE_PROTECTED);
	CU_ASSERT_STRING_EQUAL(c->ports[0].device, "net_pcap0,rx_pcap=/tmp/in.pcap");
	CU_ASSERT_EQUAL(c->ports[0].naddress, 1);
	CU_ASSERT_STRING_EQUAL(lg_addr_format(&c->ports[0].address[0], buf, sizeof(buf)),
			       "192.168.1.254");
	CU_ASSERT_FALSE(c->ports[0].has_mac);
	CU_ASSERT_EQUAL(c->ports[0].at.line, 3);
	CU_ASSERT_EQUAL(c->ports[0].at.col, 5);
	CU_ASSERT_EQUAL(c->ports[1].role, LG_ROLE_UNPROTECTED);
	CU_ASSERT_TRUE(c->ports[1].has_mac);
	CU_ASSERT_EQUAL(memcmp(c->ports[1].mac, "\x02\0\0\0\0\x01", 6), 0);
	CU_ASSERT_EQUAL(lg_config_port_find(c, "wan"), 1);
	CU_ASSERT_EQUAL(lg_config_port_find(c, "dmz"), -1);

	CU_ASSERT_EQUAL_FATAL(c->npeers, 1);
	CU_ASSERT_STRING_EQUAL(c->peers[0].id, "fqdn:gw-b.example.net");
	CU_ASSERT_EQUAL(c->peers[0].address.af, LG_AF_INET);
}

static void check_valid_sas(const struct lg_conf *c)
{
	const struct lg_conf_sa *sa = &c->sas[0];
	char buf[64];

	CU_ASSERT_EQUAL_FATAL(c->nsas, 2);
	CU_ASSERT_STRING_EQUAL(sa->name, "to-b");
	CU_ASSERT_EQUAL(sa->dir, LG_DIR_OUTBOUND);
	CU_ASSERT_EQUAL(sa->spi, 0x1000);
	CU_ASSERT_EQUAL(sa->peer, 0);
	CU_ASSERT_EQUAL(sa->mode, LG_SA_TUNNEL);
	CU_ASSERT_STRING_EQUAL(lg_addr_format(&sa->remote, buf, sizeof(buf)), "172.16.2.5");
	CU_ASSERT_EQUAL(sa->cipher, LG_CIPHER_AES128_GCM);
	CU_ASSERT_EQUAL(sa->auth, LG_AUTH_AEAD);
	CU_ASSERT_EQUAL(sa->cipher_key_len, 16);
	CU_ASSERT_EQUAL(memcmp(sa->cipher_key, KEY128, 16), 0);
	CU_ASSERT_EQUAL(sa->auth_key_len, 0);
	CU_ASSERT_EQUAL(memcmp(sa->salt, "\x01\x02\x03\x04", 4), 0);
	CU_ASSERT_EQUAL(sa->inner_af, LG_AF_INET);   /* from policy lan-to-b */
	CU_ASSERT_EQUAL(sa->replay_window, 1024);    /* defaults */
	CU_ASSERT_FALSE(sa->esn);
	CU_ASSERT_FALSE(sa->encap_udp);
	CU_ASSERT(sa->encap_sport == 4500 && sa->encap_dport == 4500);
	CU_ASSERT_EQUAL(sa->df, LG_DF_COPY);
	CU_ASSERT_EQUAL(sa->dscp, -1);
	CU_ASSERT_EQUAL(sa->ttl, 64);

	sa = &c->sas[1];
	CU_ASSERT_EQUAL(sa->spi, 0x2000);            /* given as 8192 */
	CU_ASSERT_EQUAL(sa->cipher, LG_CIPHER_AES256_GCM);
	CU_ASSERT_EQUAL(sa->auth, LG_AUTH_AEAD);
	CU_ASSERT_EQUAL(sa->cipher_key_len, 32);
	CU_ASSERT_EQUAL(sa->cipher_key[0], 0x00);
	CU_ASSERT_EQUAL(sa->cipher_key[10], 0x0a);
	CU_ASSERT_EQUAL(sa->cipher_key[31], 0x1f);
	CU_ASSERT_EQUAL(memcmp(sa->salt, "\xa0\xb0\xc0\xd0", 4), 0);
	CU_ASSERT_EQUAL(sa->replay_window, 64);
	CU_ASSERT_TRUE(sa->esn);
	CU_ASSERT_EQUAL(lg_config_sa_find(c, "from-b"), 1);
	CU_ASSERT_EQUAL(lg_config_sa_find(c, "to-z"), -1);
}

static void check_valid_policies(const struct lg_conf *c)
{
	const struct lg_conf_policy *p = &c->policies[0];
	char buf[64];

	CU_ASSERT_EQUAL_FATAL(c->npolicies, 4);
	CU_ASSERT_EQUAL(p->priority, 10);
	CU_ASSERT_EQUAL(p->src.len, 24);
	CU_ASSERT_STRING_EQUAL(lg_addr_format(&p->dst.addr, buf, sizeof(buf)), "192.168.2.0");
	CU_ASSERT_EQUAL(p->proto, 0);
	CU_ASSERT_EQUAL(p->nsport, 0);
	CU_ASSERT_EQUAL(p->af, LG_AF_INET);
	CU_ASSERT_EQUAL(p->action, LG_ACT_PROTECT);
	CU_ASSERT_EQUAL(p->sa, 0);

	p = &c->policies[1];
	CU_ASSERT_EQUAL(p->src.addr.af, LG_AF_NONE);
	CU_ASSERT_EQUAL(p->af, LG_AF_NONE);          /* no selector: either family */
	CU_ASSERT_EQUAL(p->proto, 17);
	CU_ASSERT_EQUAL_FATAL(p->ndport, 2);         /* [500, 4500] */
	CU_ASSERT(p->dport[0].lo == 500 && p->dport[0].hi == 500);
	CU_ASSERT(p->dport[1].lo == 4500 && p->dport[1].hi == 4500);
	CU_ASSERT_EQUAL(p->action, LG_ACT_BYPASS);

	p = &c->policies[2];
	CU_ASSERT_EQUAL(p->dst.len, 32);             /* a bare address is a host */
	CU_ASSERT_EQUAL(p->proto, 6);
	CU_ASSERT(p->nsport == 1 && p->sport[0].lo == 1024 && p->sport[0].hi == 65535);
	CU_ASSERT(p->ndport == 1 && p->dport[0].lo == 443 && p->dport[0].hi == 443);
	CU_ASSERT_EQUAL(p->action, LG_ACT_DISCARD);
	CU_ASSERT_EQUAL(c->policies[3].sa, 1);
}

static void test_valid_config_fills_every_field(void)
{
	char err[LG_ERR_MAX];
	struct lg_conf *c = parse(VALID, err);

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_STRING_EQUAL(c->file, "test.yaml");
	CU_ASSERT_EQUAL(c->neal, 6);
	CU_ASSERT_STRING_EQUAL(c->eal[1], "0-1");
	CU_ASSERT_STRING_EQUAL(c->eal[5], "latchgate");
	CU_ASSERT_PTR_NULL(c->eal[6]);
	/* defaults of the absent crypto: and control: sections */
	CU_ASSERT_EQUAL(c->crypto.ndevices, 1);
	CU_ASSERT_STRING_EQUAL(c->crypto.devices[0], "crypto_aesni_gcm0");
	CU_ASSERT_EQUAL(c->crypto.mode, LG_CRYPTO_LOOKASIDE);
	CU_ASSERT_STRING_EQUAL(c->control.socket, "/run/latchgate/control.sock");
	check_valid_ports(c);
	check_valid_sas(c);
	check_valid_policies(c);
	CU_ASSERT_EQUAL_FATAL(c->nroutes, 2);
	CU_ASSERT_EQUAL(c->routes[0].port, 1);
	CU_ASSERT_EQUAL(c->routes[0].dst.len, 24);
	CU_ASSERT_EQUAL(c->routes[1].port, 0);
	CU_ASSERT_EQUAL(c->routes[1].next_hop_mac[5], 0x0b);
	CU_ASSERT_EQUAL(c->nwarnings, 0);
	CU_ASSERT_PTR_NULL(c->warnings);
	lg_config_free(c);
}

/* ---- accepted variants ------------------------------------------------- */

#define PORTS \
	"ports:\n" \
	"  - {name: lan, role: protected, device: net_null0, address: 192.168.1.254}\n" \
	"  - {name: wan, role: unprotected, device: net_null1, address: 172.16.1.5}\n"
#define PEERS \
	"peers:\n" \
	"  - {name: site-b, id: \"fqdn:gw-b.example.net\"}\n"
/* PORTS and PEERS are lines 1-5; what follows starts on line 6. */
#define BASE PORTS PEERS
#define AEAD128 \
	"    aead: {algorithm: aes-128-gcm, key: \"0x00112233445566778899aabbccddeeff\"," \
	" salt: \"0x01020304\"}\n"
/* 6 lines, starting with "  - name: NAME"; a suite must follow */
#define SA_HEAD(name, dir, spi) \
	"  - name: " name "\n" \
	"    direction: " dir "\n" \
	"    spi: " spi "\n" \
	"    peer: site-b\n" \
	"    local: 172.16.1.5\n" \
	"    remote: 172.16.2.5\n"
#define SA6_HEAD(name, dir, spi) \
	"  - name: " name "\n" \
	"    direction: " dir "\n" \
	"    spi: " spi "\n" \
	"    peer: site-b\n" \
	"    local: \"2001:db8::1\"\n" \
	"    remote: \"2001:db8::2\"\n"
/* 7 lines */
#define SA(name, dir, spi) SA_HEAD(name, dir, spi) AEAD128
#define SA6(name, dir, spi) SA6_HEAD(name, dir, spi) AEAD128
#define SAS "sas:\n" SA("to-b", "outbound", "0x1000") SA("from-b", "inbound", "0x2000")
/* BASE SAS is lines 1-20; what follows starts on line 21. */
/* One-line suites */
#define CBC128 "    cipher: {algorithm: aes-128-cbc, key: \"" K16 "\"}\n"
#define CBC256 "    cipher: {algorithm: aes-256-cbc, key: \"" K32 "\"}\n"
#define CTR128 "    cipher: {algorithm: aes-128-ctr, key: \"" K16 "\", nonce: \"0xdeadbeef\"}\n"
#define SHA1 "    auth: {algorithm: hmac-sha1-96, key: \"" K20 "\"}\n"
#define SHA256 "    auth: {algorithm: hmac-sha256-128, key: \"" K32 "\"}\n"

struct good_case {
	const char *name;
	const char *yaml;
	void (*check)(const struct lg_conf *c);
};

static void check_ipv6(const struct lg_conf *c)
{
	char buf[64];

	CU_ASSERT_EQUAL(c->sas[0].local.af, LG_AF_INET6);
	CU_ASSERT_STRING_EQUAL(lg_addr_format(&c->sas[0].remote, buf, sizeof(buf)), "2001:db8::2");
	CU_ASSERT_EQUAL(c->policies[0].src.len, 48);
	CU_ASSERT_EQUAL(c->policies[0].dst.addr.b[15], 0x10);
	CU_ASSERT_EQUAL(c->policies[0].dst.len, 128);
}

static void check_sections(const struct lg_conf *c)
{
	CU_ASSERT_EQUAL(c->crypto.ndevices, 2);
	CU_ASSERT_STRING_EQUAL(c->crypto.devices[1], "crypto_aesni_mb0");
	CU_ASSERT_EQUAL(c->crypto.mode, LG_CRYPTO_CPU);
	CU_ASSERT_EQUAL(c->crypto.at.line, 7);
	CU_ASSERT_STRING_EQUAL(c->control.socket, "/tmp/lg.sock");
	CU_ASSERT_EQUAL(c->control.rekey_overlap_s, 0);
	CU_ASSERT_EQUAL(c->memory.mbufs, 65536);
	CU_ASSERT_EQUAL(c->memory.sas, 131072);
	CU_ASSERT_EQUAL(c->neal, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c->eal);
	CU_ASSERT_PTR_NULL(c->eal[0]);
}

static void check_sa_options(const struct lg_conf *c)
{
	CU_ASSERT_EQUAL(c->sas[0].spi, 256);
	CU_ASSERT_EQUAL(c->sas[0].replay_window, 0);
	CU_ASSERT_TRUE(c->sas[0].esn);
	CU_ASSERT_EQUAL(c->sas[1].spi, 0xffffffffu);
	CU_ASSERT_EQUAL(c->sas[1].replay_window, 4096);
	CU_ASSERT_FALSE(c->sas[1].esn);
}

static void check_ports_list(const struct lg_conf *c)
{
	const struct lg_conf_policy *p = &c->policies[0];

	CU_ASSERT_EQUAL(p->proto, 17);
	CU_ASSERT_EQUAL_FATAL(p->nsport, 3);
	CU_ASSERT(p->sport[0].lo == 53 && p->sport[0].hi == 53);
	CU_ASSERT(p->sport[1].lo == 1000 && p->sport[1].hi == 2000);
	CU_ASSERT(p->sport[2].lo == 0x1f4 && p->sport[2].hi == 0x1f4);
	CU_ASSERT_EQUAL(p->ndport, 0);
	CU_ASSERT_EQUAL(c->policies[1].proto, 50);
	CU_ASSERT_EQUAL(c->policies[1].dst.len, 0);
}

static void check_same_spi_both_ways(const struct lg_conf *c)
{
	CU_ASSERT_EQUAL(c->sas[0].spi, c->sas[1].spi);
	CU_ASSERT_NOT_EQUAL(c->sas[0].dir, c->sas[1].dir);
}

static void check_suites(const struct lg_conf *c)
{
	static const char *const want[] = {
		"aes-128-cbc/hmac-sha1-96", "aes-256-cbc/hmac-sha256-128",
		"aes-128-ctr/hmac-sha256-128", "null/hmac-sha1-96", "aes-256-gcm",
	};
	const struct lg_conf_sa *sa = c->sas;
	char buf[48];

	CU_ASSERT_EQUAL_FATAL(c->nsas, ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		CU_ASSERT_STRING_EQUAL(lg_suite_format(&sa[i], buf, sizeof(buf)), want[i]);
	CU_ASSERT(sa[0].cipher == LG_CIPHER_AES128_CBC && sa[0].cipher_key_len == 16);
	CU_ASSERT_EQUAL(memcmp(sa[0].cipher_key, KEY128, 16), 0);
	CU_ASSERT(sa[0].auth == LG_AUTH_HMAC_SHA1_96 && sa[0].auth_key_len == 20);
	CU_ASSERT_EQUAL(memcmp(sa[0].auth_key, KEY160, 20), 0);
	CU_ASSERT(sa[1].cipher == LG_CIPHER_AES256_CBC && sa[1].cipher_key_len == 32);
	CU_ASSERT_EQUAL(sa[1].cipher_key[31], 0x1f);
	CU_ASSERT(sa[1].auth == LG_AUTH_HMAC_SHA256_128 && sa[1].auth_key_len == 32);
	CU_ASSERT_EQUAL(sa[1].auth_key[31], 0x1f);
	CU_ASSERT(sa[2].cipher == LG_CIPHER_AES128_CTR && sa[2].cipher_key_len == 16);
	CU_ASSERT_EQUAL(memcmp(sa[2].salt, "\xde\xad\xbe\xef", 4), 0);  /* the nonce */
	CU_ASSERT(sa[3].cipher == LG_CIPHER_NULL && sa[3].cipher_key_len == 0);
	CU_ASSERT_EQUAL(sa[3].auth, LG_AUTH_HMAC_SHA1_96);
	CU_ASSERT(sa[4].cipher == LG_CIPHER_AES256_GCM && sa[4].auth == LG_AUTH_AEAD);
	CU_ASSERT_EQUAL(sa[4].auth_key_len, 0);
	CU_ASSERT_EQUAL(memcmp(sa[4].salt, "\xca\xfe\xf0\x0d", 4), 0);
}

static void check_transport(const struct lg_conf *c)
{
	CU_ASSERT_EQUAL_FATAL(c->nsas, 2);
	CU_ASSERT_EQUAL(c->sas[0].mode, LG_SA_TRANSPORT);
	CU_ASSERT_EQUAL(c->sas[0].inner_af, LG_AF_INET);
	CU_ASSERT_TRUE(c->sas[0].esn);
	CU_ASSERT_EQUAL(c->sas[1].mode, LG_SA_TRANSPORT);
	CU_ASSERT_EQUAL(c->sas[1].inner_af, LG_AF_INET6);
	CU_ASSERT_EQUAL(c->policies[0].dst.len, 32);
	CU_ASSERT_EQUAL(c->policies[1].src.len, 128);
}

static void check_encap(const struct lg_conf *c)
{
	CU_ASSERT_TRUE(c->sas[0].encap_udp);
	CU_ASSERT(c->sas[0].encap_sport == 4500 && c->sas[0].encap_dport == 4500);
	CU_ASSERT_TRUE(c->sas[1].encap_udp);
	CU_ASSERT(c->sas[1].encap_sport == 1024 && c->sas[1].encap_dport == 4501);
}

static void check_outer(const struct lg_conf *c)
{
	const struct lg_conf_sa *sa = c->sas;

	CU_ASSERT_EQUAL_FATAL(c->nsas, 3);
	CU_ASSERT(sa[0].df == LG_DF_SET && sa[0].dscp == 46 && sa[0].ttl == 255);
	CU_ASSERT(sa[1].df == LG_DF_CLEAR && sa[1].dscp == -1 && sa[1].ttl == 64);
	CU_ASSERT(sa[2].df == LG_DF_COPY && sa[2].dscp == 0 && sa[2].ttl == 1);
	CU_ASSERT_EQUAL(sa[2].local.af, LG_AF_INET6);
}

static void check_families(const struct lg_conf *c)
{
	const struct lg_conf_sa *sa = c->sas;

	CU_ASSERT_EQUAL_FATAL(c->nsas, 4);
	CU_ASSERT(sa[0].local.af == LG_AF_INET6 && sa[0].inner_af == LG_AF_INET);   /* 4-in-6 */
	CU_ASSERT(sa[1].local.af == LG_AF_INET && sa[1].inner_af == LG_AF_INET6);   /* 6-in-4 */
	CU_ASSERT(sa[2].local.af == LG_AF_INET6 && sa[2].inner_af == LG_AF_INET6);  /* 6-in-6 */
	CU_ASSERT(sa[3].local.af == LG_AF_INET6 && sa[3].inner_af == LG_AF_INET6);  /* unused */
	CU_ASSERT_EQUAL(c->policies[0].af, LG_AF_INET);
	CU_ASSERT_EQUAL(c->policies[1].af, LG_AF_INET6);
	CU_ASSERT_EQUAL(c->policies[2].af, LG_AF_INET6);   /* dst only */
	CU_ASSERT_EQUAL(c->policies[2].src.addr.af, LG_AF_NONE);
}

static void check_icmp(const struct lg_conf *c)
{
	const struct lg_conf_policy *p = c->policies;

	CU_ASSERT_EQUAL_FATAL(c->npolicies, 3);
	CU_ASSERT_EQUAL(p[0].proto, 1);
	CU_ASSERT(p[0].nsport == 1 && p[0].sport[0].lo == 8 && p[0].sport[0].hi == 8);
	CU_ASSERT(p[0].ndport == 1 && p[0].dport[0].lo == 0 && p[0].dport[0].hi == 0);
	CU_ASSERT_EQUAL(p[1].proto, 58);
	CU_ASSERT_EQUAL_FATAL(p[1].nsport, 2);
	CU_ASSERT(p[1].sport[0].lo == 128 && p[1].sport[0].hi == 128);
	CU_ASSERT(p[1].sport[1].lo == 133 && p[1].sport[1].hi == 137);
	CU_ASSERT_EQUAL(p[1].ndport, 0);
	CU_ASSERT_EQUAL(p[2].proto, 58);                  /* given as 58 */
	CU_ASSERT(p[2].nsport == 0 && p[2].ndport == 1 && p[2].dport[0].hi == 255);
}

static void check_port_addresses(const struct lg_conf *c)
{
	char buf[64];

	CU_ASSERT_EQUAL_FATAL(c->ports[0].naddress, 2);
	CU_ASSERT_EQUAL(c->ports[0].address[0].af, LG_AF_INET);
	CU_ASSERT_STRING_EQUAL(lg_addr_format(&c->ports[0].address[1], buf, sizeof(buf)),
			       "2001:db8:1::1");
	CU_ASSERT_EQUAL_FATAL(c->ports[1].naddress, 1);
	CU_ASSERT_EQUAL(c->ports[1].address[0].af, LG_AF_INET6);
	CU_ASSERT_EQUAL(c->peers[0].address.af, LG_AF_INET6);
	CU_ASSERT_EQUAL(c->routes[0].dst.len, 48);
}

static void check_equal_priorities(const struct lg_conf *c)
{
	CU_ASSERT_EQUAL(c->npolicies, 12);
}

static const struct good_case good_cases[] = {
	{ "ipv6 tunnel and selectors",
	  BASE "sas:\n"
	  "  - {name: v6, direction: outbound, spi: 0x3000, peer: site-b, local: \"2001:db8::1\","
	  " remote: \"2001:db8::2\", aead: {algorithm: aes-128-gcm,"
	  " key: \"0x00112233445566778899aabbccddeeff\", salt: \"0x01020304\"}}\n"
	  "policies:\n"
	  "  - {name: p6, direction: outbound, priority: 0, src: \"2001:db8:1::/48\","
	  " dst: \"2001:db8:2::10\", action: protect, sa: v6}\n",
	  check_ipv6 },
	{ "crypto, control and empty eal sections",
	  BASE "crypto:\n  devices: [crypto_aesni_gcm0, crypto_aesni_mb0]\n  mode: cpu\n"
	  "control: {socket: /tmp/lg.sock, rekey_overlap: 0}\neal: []\nmemory: {mbufs: 65536, sas: 131072}\n",
	  check_sections },
	{ "spi bounds, replay window bounds, esn spellings",
	  BASE "sas:\n"
	  SA("a", "outbound", "256") "    replay_window: 0\n    esn: True\n"
	  SA("b", "inbound", "0xFFFFFFFF") "    replay_window: 4096\n    esn: no\n",
	  check_sa_options },
	{ "port list with numbers, ranges and hex; proto names",
	  BASE "policies:\n"
	  "  - {name: dns, direction: inbound, priority: 5, proto: 17,"
	  " sport: [53, \"1000-2000\", 0x1f4], action: discard}\n"
	  "  - {name: esp, direction: inbound, priority: 6, proto: esp, dst: 0.0.0.0/0,"
	  " action: bypass}\n",
	  check_ports_list },
	{ "one SPI may be used once per direction",
	  BASE "sas:\n" SA("to-b", "outbound", "0x1000") SA("from-b", "inbound", "0x1000"),
	  check_same_spi_both_ways },
	{ "every suite: cbc, ctr and null with hmac, and gcm",
	  BASE "sas:\n"
	  SA_HEAD("cbc1", "outbound", "0x1001") CBC128 SHA1
	  SA_HEAD("cbc2", "outbound", "0x1002") CBC256 SHA256
	  SA_HEAD("ctr", "outbound", "0x1003") CTR128 SHA256
	  SA_HEAD("null", "inbound", "0x1004") "    cipher: {algorithm: null}\n" SHA1
	  SA_HEAD("gcm", "inbound", "0x1005")
	  "    aead: {algorithm: aes-256-gcm, key: \"" K32 "\", salt: \"0xcafef00d\"}\n",
	  check_suites },
	{ "transport SAs between the two hosts, IPv4 and IPv6, with esn",
	  BASE "sas:\n"
	  SA_HEAD("t4", "outbound", "0x1000") "    mode: transport\n    esn: true\n" CBC128 SHA256
	  SA6_HEAD("t6", "inbound", "0x1000") "    mode: transport\n" AEAD128
	  "policies:\n"
	  "  - {name: out4, direction: outbound, priority: 1, src: 172.16.1.5,"
	  " dst: 172.16.2.5/32, proto: tcp, dport: 179, action: protect, sa: t4}\n"
	  "  - {name: in6, direction: inbound, priority: 1, src: \"2001:db8::2/128\","
	  " dst: \"2001:db8::1\", action: protect, sa: t6}\n",
	  check_transport },
	{ "NAT-T encapsulation, default and given ports",
	  BASE "sas:\n"
	  SA("to-b", "outbound", "0x1000") "    encap: {type: udp}\n"
	  SA("from-b", "inbound", "0x1000") "    mode: tunnel\n"
	  "    encap:\n      type: udp\n      sport: 1024\n      dport: 0x1195\n",
	  check_encap },
	{ "outer header: df, dscp and ttl; dscp and ttl on IPv6",
	  BASE "sas:\n"
	  SA("a", "outbound", "0x1000") "    outer: {df: set, dscp: 46, ttl: 255}\n"
	  SA("b", "outbound", "0x1001") "    outer: {df: clear, dscp: copy}\n"
	  SA6("c", "outbound", "0x1002") "    outer: {dscp: 0, ttl: 1}\n",
	  check_outer },
	{ "4-in-6, 6-in-4 and 6-in-6 tunnels; an unused SA keeps the outer family",
	  BASE "sas:\n"
	  SA6("4in6", "outbound", "0x1000") SA("6in4", "outbound", "0x1001")
	  SA6("6in6", "outbound", "0x1002") SA6("spare", "inbound", "0x1003")
	  "policies:\n"
	  "  - {name: a, direction: outbound, priority: 1, src: 192.168.1.0/24,"
	  " dst: 192.168.2.0/24, action: protect, sa: 4in6}\n"
	  "  - {name: b, direction: outbound, priority: 2, src: \"2001:db8:1::/48\","
	  " dst: \"2001:db8:2::/48\", action: protect, sa: 6in4}\n"
	  "  - {name: c, direction: outbound, priority: 3, dst: \"2001:db8:3::/48\","
	  " action: protect, sa: 6in6}\n"
	  "  - {name: d, direction: outbound, priority: 4, src: \"2001:db8:1::/48\","
	  " dst: \"2001:db8:4::/48\", action: protect, sa: 6in6}\n",
	  check_families },
	{ "icmp and icmp6 types and codes",
	  BASE "policies:\n"
	  "  - {name: ping, direction: inbound, priority: 1, dst: 192.168.1.0/24, proto: icmp,"
	  " icmp_type: 8, icmp_code: 0, action: bypass}\n"
	  "  - {name: nd, direction: inbound, priority: 2, proto: icmp6,"
	  " icmp_type: [128, \"133-137\"], action: bypass}\n"
	  "  - {name: all6, direction: inbound, priority: 3, src: \"::/0\", proto: 58,"
	  " icmp_code: \"0-255\", action: discard}\n",
	  check_icmp },
	{ "port address lists, IPv6 port, peer and route",
	  "ports:\n"
	  "  - {name: lan, role: protected, device: d0,"
	  " address: [192.168.1.254, \"2001:db8:1::1\"]}\n"
	  "  - name: wan\n    role: unprotected\n    device: d1\n"
	  "    address:\n      - 2001:db8:ffff::5\n"
	  "peers:\n  - {name: b, id: \"ipv6:2001:db8:ffff::6\", address: \"2001:db8:ffff::6\"}\n"
	  "routes:\n"
	  "  - {dst: \"2001:db8:2::/48\", port: wan, next_hop_mac: \"02:00:00:00:00:0a\"}\n",
	  check_port_addresses },
	{ "equal priorities are fine when the selectors cannot meet",
	  BASE "policies:\n"
	  "  - {name: a, direction: outbound, priority: 10, dst: 192.168.2.0/24, action: discard}\n"
	  "  - {name: b, direction: outbound, priority: 10, dst: 192.168.3.0/24, action: discard}\n"
	  "  - {name: c, direction: inbound, priority: 10, dst: 192.168.2.0/24, action: discard}\n"
	  "  - {name: d, direction: outbound, priority: 20, proto: tcp, action: discard}\n"
	  "  - {name: e, direction: outbound, priority: 20, proto: udp, action: discard}\n"
	  "  - {name: f, direction: outbound, priority: 30, proto: tcp, dport: 80,"
	  " action: discard}\n"
	  "  - {name: g, direction: outbound, priority: 30, proto: tcp, dport: [\"81-90\", 443],"
	  " action: discard}\n"
	  "  - {name: h, direction: outbound, priority: 40, dst: 10.0.0.0/8, action: discard}\n"
	  "  - {name: i, direction: outbound, priority: 40, dst: \"2001:db8::/32\","
	  " action: discard}\n"
	  "  - {name: j, direction: outbound, priority: 50, proto: icmp, icmp_type: 8,"
	  " action: discard}\n"
	  "  - {name: k, direction: outbound, priority: 50, proto: icmp, icmp_type: 0,"
	  " action: discard}\n"
	  "  - {name: l, direction: outbound, priority: 50, proto: icmp6, action: discard}\n",
	  check_equal_priorities },
};

static void test_variants_are_accepted(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(good_cases); i++) {
		const struct good_case *g = &good_cases[i];
		char err[LG_ERR_MAX];
		struct lg_conf *c = parse(g->yaml, err);

		CU_ASSERT_PTR_NOT_NULL(c);
		if (c == NULL) {
			fprintf(stderr, "\n  case '%s': %s\n", g->name, err);
			continue;
		}
		g->check(c);
		CU_ASSERT_EQUAL(c->nwarnings, 0);
		lg_config_free(c);
	}
}

/* ---- rejected configs -------------------------------------------------- */

struct bad_case {
	const char *name;
	const char *yaml;
	const char *err;     /* exact */
};

#define WHAT_SPI "expected an SPI 256..0xffffffff, decimal or 0x hex" \
	" (0 and 1..255 are reserved, RFC 4303 2.1)"
#define WHAT_MAC "expected a unicast MAC address like 02:00:00:00:00:01"
#define WHAT_NAME "expected a name of 1..31 characters from A-Z a-z 0-9 _ . -"
#define WHAT_PORTS "expected a port 0..65535, a range \"lo-hi\" or a list of 1..8 of those"
#define WHAT_ADDRS "expected an IPv4 or IPv6 address or a list of 1..4 of those"
#define WHAT_ADDR6 "expected an IPv6 address like 2001:db8::1"
#define WHAT_ICMP_TYPES "expected an ICMP type 0..255, a range \"lo-hi\" or a list of 1..8 of those"
#define WHY_ONE_SUITE "(give aead, or cipher and auth)"
#define WHY_SPD "the SPD must have a deterministic order (RFC 4301 §4.4.1)"
#define A20 "aaaaaaaaaaaaaaaaaaaa"
#define ROUTE(dst, port, mac) \
	"routes:\n  - dst: " dst "\n    port: " port "\n    next_hop_mac: \"" mac "\"\n"
/* An SA with one field replaced: spi given, all else fixed (lines 6-13). */
#define SA_SPI(spi) BASE "sas:\n" SA("to-b", "outbound", spi)
#define SA_AEAD(alg, key, salt) BASE "sas:\n" \
	"  - name: to-b\n    direction: outbound\n    spi: 0x1000\n    peer: site-b\n" \
	"    local: 172.16.1.5\n    remote: 172.16.2.5\n" \
	"    aead:\n      algorithm: " alg "\n      key: \"" key "\"\n      salt: \"" salt "\"\n"
#define POLICY(fields) BASE SAS "policies:\n  - {name: p, direction: outbound, priority: 1, " \
	fields "}\n"
/* The outbound SA "to-b" with its suite (and more) from line 13 on. */
#define SA_WITH(lines) BASE "sas:\n" SA_HEAD("to-b", "outbound", "0x1000") lines
#define PORT1(addr) "ports:\n  - {name: lan, role: protected, device: d0, address: " addr "}\n"

static const struct bad_case bad_cases[] = {
	/* document and YAML level */
	{ "yaml syntax error", "ports: [lan, wan\n",
	  "test.yaml:2:1: YAML syntax error: did not find expected ',' or ']'" },
	{ "invalid utf-8 is located by byte offset", "ports:\n  - x: \xff\n",
	  "test.yaml:2:8: YAML syntax error: invalid leading UTF-8 octet" },
	{ "undefined alias", "ports: *lan\n",
	  "test.yaml:1:8: YAML syntax error: found undefined alias" },
	{ "empty document", "# nothing\n", "test.yaml:1:1: top level: expected a mapping" },
	{ "top level is a list", "- ports\n", "test.yaml:1:1: top level: expected a mapping" },
	{ "second document", BASE "---\nports: []\n",
	  "test.yaml:7:1: top level: expected a single YAML document" },
	{ "complex key", "? [a, b]\n: 1\n", "test.yaml:1:3: top level: expected scalar keys" },
	{ "unknown top-level key", BASE "latches:\n  capacity: 1024\n",
	  "test.yaml:6:1: key 'latches': unknown key" },
	{ "latch capacity too small", BASE "latch:\n  capacity: 1000\n",
	  "test.yaml:7:13: key 'capacity': expected a number of flows 1024..16777216" },
	{ "latch enabled not a bool", BASE "latch: { enabled: maybe }\n",
	  "test.yaml:6:19: key 'enabled': expected true or false" },
	{ "unknown latch key", BASE "latch: { on_brake: hold }\n",
	  "test.yaml:6:10: key 'on_brake': unknown key" },
	{ "on_break neither hold nor close", BASE "latch: { on_break: drop }\n",
	  "test.yaml:6:20: key 'on_break': expected hold or close" },
	{ "idle timeout of zero", BASE "latch: { idle_timeout: { udp: 0 } }\n",
	  "test.yaml:6:31: key 'udp': expected seconds 1..86400" },
	{ "idle timeout of an unknown protocol", BASE "latch: { idle_timeout: { sctp: 5 } }\n",
	  "test.yaml:6:26: key 'sctp': unknown key" },
	{ "control bytes in a key stay on one line", "\"ports\\nx\": 1\n",
	  "test.yaml:1:1: key 'ports?x': unknown key" },
	{ "duplicate key", "ports:\n  - name: lan\n    name: wan\n",
	  "test.yaml:3:5: key 'name': duplicate key (first at line 2)" },
	{ "missing ports", "peers: []\n", "test.yaml:1:1: key 'ports': missing required key" },
	/* ports */
	{ "ports is not a list", "ports: {name: lan}\n",
	  "test.yaml:1:8: key 'ports': expected a list of 1..8 ports" },
	{ "port item is not a mapping", "ports: [lan]\n",
	  "test.yaml:1:9: key 'ports': expected a mapping for each item" },
	{ "unknown port key", "ports:\n  - name: lan\n    speed: 10G\n",
	  "test.yaml:3:5: key 'speed': unknown key" },
	{ "missing required port key", "ports:\n  - name: lan\n    role: protected\n"
	  "    address: 10.0.0.1\n",
	  "test.yaml:2:5: key 'device': missing required key" },
	{ "bad role", "ports:\n  - {name: lan, role: guarded, device: d0, address: 10.0.0.1}\n",
	  "test.yaml:2:23: key 'role': expected protected or unprotected" },
	{ "bad name characters", "ports:\n  - {name: \"lan 0\", role: protected, device: d0,"
	  " address: 10.0.0.1}\n",
	  "test.yaml:2:12: key 'name': " WHAT_NAME },
	{ "name too long", "ports:\n  - {name: abcdefghijabcdefghijabcdefghij12, role: protected,"
	  " device: d0, address: 10.0.0.1}\n",
	  "test.yaml:2:12: key 'name': " WHAT_NAME },
	{ "nul byte in a scalar", "ports:\n  - {name: \"l\\0an\", role: protected, device: d0,"
	  " address: 10.0.0.1}\n",
	  "test.yaml:2:12: key 'name': " WHAT_NAME },
	{ "bad IPv4 address", "ports:\n  - name: lan\n    role: protected\n    device: d0\n"
	  "    address: 192.168.1.256\n",
	  "test.yaml:5:14: key 'address': expected an IPv4 address like 192.0.2.1" },
	{ "address with a prefix length", "ports:\n  - {name: lan, role: protected, device: d0,"
	  " address: 10.0.0.1/24}\n",
	  "test.yaml:2:55: key 'address': " WHAT_ADDRS },
	{ "bad mac", "ports:\n  - {name: lan, role: protected, device: d0, address: 10.0.0.1,"
	  " mac: \"02:00:00:00:00\"}\n",
	  "test.yaml:2:70: key 'mac': " WHAT_MAC },
	{ "multicast mac", "ports:\n  - {name: lan, role: protected, device: d0, address: 10.0.0.1,"
	  " mac: \"01:00:5e:00:00:01\"}\n",
	  "test.yaml:2:70: key 'mac': " WHAT_MAC },
	{ "duplicate port name", PORTS "  - {name: lan, role: protected, device: d2,"
	  " address: 10.0.0.1}\n",
	  "test.yaml:4:12: key 'name': duplicate name 'lan' (first at line 2)" },
	{ "no unprotected port", "ports:\n  - {name: lan, role: protected, device: d0,"
	  " address: 10.0.0.1}\n",
	  "test.yaml:2:3: key 'ports': expected at least one protected and one unprotected port" },
	{ "too many ports", "ports: [a, b, c, d, e, f, g, h, i]\n",
	  "test.yaml:1:8: key 'ports': expected a list of 1..8 ports" },
	/* crypto, peers, eal, control */
	{ "crypto devices empty", PORTS "crypto: {devices: []}\n",
	  "test.yaml:4:19: key 'devices': expected a list of 1..8 device strings of 1..255 characters" },
	{ "duplicate crypto device", PORTS "crypto:\n  devices: [c0, c0]\n",
	  "test.yaml:5:17: key 'devices': duplicate device 'c0' (first at line 5)" },
	{ "bad crypto mode", PORTS "crypto: {mode: inline}\n",
	  "test.yaml:4:16: key 'mode': expected lookaside, cpu or direct" },
	{ "crypto not a mapping", PORTS "crypto: [c0]\n",
	  "test.yaml:4:9: key 'crypto': expected a mapping" },
	{ "peer id without type", PORTS "peers:\n  - {name: b, id: gw-b.example.net}\n",
	  "test.yaml:5:19: key 'id': expected an identity \"type:value\" of 1..127 characters" },
	{ "peers is not a list", PORTS "peers: {name: b}\n",
	  "test.yaml:4:8: key 'peers': expected a list of peers" },
	{ "complex key in a nested mapping", PORTS "crypto:\n  ? [a]\n  : 1\n",
	  "test.yaml:5:5: key 'crypto': expected scalar keys" },
	{ "eal item is not a scalar", PORTS "eal: [-l, [0, 1]]\n",
	  "test.yaml:4:11: key 'eal': expected a list of strings" },
	{ "control socket too long", PORTS "control:\n  socket: /run/"
	  A20 A20 A20 A20 A20
	  ".sock\n",
	  "test.yaml:5:11: key 'socket': expected a path of 1..107 characters" },
	{ "mbufs too few", PORTS "memory: {mbufs: 100}\n",
	  "test.yaml:4:17: key 'mbufs': expected a number of packet buffers 4096..16777216" },
	{ "SA slots too many", PORTS "memory: {sas: 2000000}\n",
	  "test.yaml:4:15: key 'sas': expected a number of SA slots 16..1048576" },
	{ "memory unknown key", PORTS "memory: {hugepages: 2}\n",
	  "test.yaml:4:10: key 'hugepages': unknown key" },
	{ "rekey overlap too long", PORTS "control: {rekey_overlap: 3601}\n",
	  "test.yaml:4:26: key 'rekey_overlap': expected seconds 0..3600" },
	{ "rekey overlap negative", PORTS "control: {rekey_overlap: -1}\n",
	  "test.yaml:4:26: key 'rekey_overlap': expected seconds 0..3600" },
	/* SAs */
	{ "sa spi 0", SA_SPI("0"), "test.yaml:9:10: key 'spi': " WHAT_SPI },
	{ "sa spi reserved by IANA", SA_SPI("255"), "test.yaml:9:10: key 'spi': " WHAT_SPI },
	{ "sa spi hex junk", SA_SPI("0x10g0"), "test.yaml:9:10: key 'spi': " WHAT_SPI },
	{ "sa spi over 32 bits", SA_SPI("0x100000000"), "test.yaml:9:10: key 'spi': " WHAT_SPI },
	{ "sa spi octal-looking", SA_SPI("0400"), "test.yaml:9:10: key 'spi': " WHAT_SPI },
	{ "sa spi negative", SA_SPI("-4096"), "test.yaml:9:10: key 'spi': " WHAT_SPI },
	{ "sa key too short",
	  SA_AEAD("aes-128-gcm", "0x00112233445566778899aabbccddee", "0x01020304"),
	  "test.yaml:15:12: key 'key': expected 16 bytes (0x and 32 hex digits) for aes-128-gcm" },
	{ "sa key short for aes-256",
	  SA_AEAD("aes-256-gcm", "0x00112233445566778899aabbccddeeff", "0x01020304"),
	  "test.yaml:15:12: key 'key': expected 32 bytes (0x and 64 hex digits) for aes-256-gcm" },
	{ "sa key not hex",
	  SA_AEAD("aes-128-gcm", "0x0011223344556677889zaabbccddeeff", "0x01020304"),
	  "test.yaml:15:12: key 'key': expected 16 bytes (0x and 32 hex digits) for aes-128-gcm" },
	{ "sa key without 0x",
	  SA_AEAD("aes-128-gcm", "00112233445566778899aabbccddeeff", "0x01020304"),
	  "test.yaml:15:12: key 'key': expected 16 bytes (0x and 32 hex digits) for aes-128-gcm" },
	{ "sa salt wrong length",
	  SA_AEAD("aes-128-gcm", "0x00112233445566778899aabbccddeeff", "0x010203"),
	  "test.yaml:16:13: key 'salt': expected 4 bytes (0x and 8 hex digits)" },
	{ "sa bad algorithm",
	  SA_AEAD("aes-128-ccm", "0x00112233445566778899aabbccddeeff", "0x01020304"),
	  "test.yaml:14:18: key 'algorithm': expected aes-128-gcm or aes-256-gcm" },
	{ "unknown key in aead",
	  SA_AEAD("aes-128-gcm", "0x00112233445566778899aabbccddeeff", "0x01020304")
	  "      icv: 16\n",
	  "test.yaml:17:7: key 'icv': unknown key" },
	{ "aead is not a mapping", BASE "sas:\n"
	  "  - {name: a, direction: inbound, spi: 300, peer: site-b,"
	  " local: 10.0.0.1, remote: 10.0.0.2, aead: aes-128-gcm}\n",
	  "test.yaml:7:100: key 'aead': expected a mapping" },
	{ "bad direction", BASE "sas:\n  - {name: a, direction: both, spi: 300, peer: site-b,"
	  " local: 10.0.0.1, remote: 10.0.0.2, aead: x}\n",
	  "test.yaml:7:26: key 'direction': expected outbound or inbound" },
	{ "unknown peer", BASE "sas:\n  - {name: a, direction: inbound, spi: 300, peer: site-z,"
	  " local: 10.0.0.1, remote: 10.0.0.2, aead: x}\n",
	  "test.yaml:7:51: key 'peer': unknown peer 'site-z'" },
	{ "bad mode", SA_SPI("0x1000") "    mode: tunel\n",
	  "test.yaml:14:11: key 'mode': expected tunnel or transport" },
	{ "family mismatch local/remote", BASE "sas:\n  - name: a\n    direction: inbound\n"
	  "    spi: 300\n    peer: site-b\n    local: 10.0.0.1\n"
	  "    remote: \"2001:db8::1\"\n" AEAD128,
	  "test.yaml:12:13: key 'remote': expected an IPv4 address (same family as local)" },
	{ "replay window too small", SA_SPI("0x1000") "    replay_window: 16\n",
	  "test.yaml:14:20: key 'replay_window': expected 0 (off) or 32..4096" },
	{ "replay window too large", SA_SPI("0x1000") "    replay_window: 8192\n",
	  "test.yaml:14:20: key 'replay_window': expected 0 (off) or 32..4096" },
	{ "bad esn", SA_SPI("0x1000") "    esn: maybe\n",
	  "test.yaml:14:10: key 'esn': expected true or false" },
	{ "duplicate SA name", BASE "sas:\n" SA("to-b", "outbound", "0x1000")
	  SA("to-b", "inbound", "0x2000"),
	  "test.yaml:14:11: key 'name': duplicate name 'to-b' (first at line 7)" },
	{ "duplicate inbound SPI", BASE "sas:\n" SA("from-b", "inbound", "0x2000")
	  SA("from-c", "inbound", "8192"),
	  "test.yaml:16:10: key 'spi': duplicate inbound SPI 0x2000 (first in SA 'from-b' at line 7)" },
	{ "duplicate outbound SPI", BASE "sas:\n" SA("to-b", "outbound", "0x1000")
	  SA("to-c", "outbound", "0x1000"),
	  "test.yaml:16:10: key 'spi': duplicate outbound SPI 0x1000 (first in SA 'to-b' at line 7)" },
	/* policies */
	{ "protect without sa", POLICY("action: protect"),
	  "test.yaml:22:5: key 'sa': missing required key for action protect" },
	{ "bypass with sa", POLICY("action: bypass, sa: to-b"),
	  "test.yaml:22:69: key 'sa': not allowed with action bypass" },
	{ "sa direction mismatch", POLICY("action: protect, sa: from-b"),
	  "test.yaml:22:70: key 'sa': expected an outbound SA ('from-b' is inbound)" },
	{ "unknown sa", POLICY("action: protect, sa: to-z"),
	  "test.yaml:22:70: key 'sa': unknown SA 'to-z'" },
	{ "sa is not a scalar", POLICY("action: protect, sa: [to-b]"),
	  "test.yaml:22:70: key 'sa': expected an SA name" },
	{ "bad action", POLICY("action: allow"),
	  "test.yaml:22:57: key 'action': expected protect, bypass or discard" },
	{ "priority out of range", BASE "policies:\n  - {name: p, direction: inbound,"
	  " priority: 65536, action: discard}\n",
	  "test.yaml:7:45: key 'priority': expected an integer 0..65535" },
	{ "host bits set in src", POLICY("src: 192.168.1.1/24, action: discard"),
	  "test.yaml:22:54: key 'src': expected 192.168.1.0/24 (host bits must be zero)" },
	{ "src/dst family mismatch",
	  POLICY("src: 192.168.1.0/24, dst: \"2001:db8::/32\", action: discard"),
	  "test.yaml:22:75: key 'dst': expected an IPv4 prefix (same family as src)" },
	{ "ports without tcp or udp", POLICY("dport: 80, action: discard"),
	  "test.yaml:22:56: key 'dport': only allowed with proto tcp or udp" },
	{ "port range lo > hi", POLICY("proto: tcp, sport: \"2000-1000\", action: discard"),
	  "test.yaml:22:68: key 'sport': expected a range with lo <= hi" },
	{ "port out of range", POLICY("proto: tcp, dport: [80, 65536], action: discard"),
	  "test.yaml:22:73: key 'dport': " WHAT_PORTS },
	{ "empty port list", POLICY("proto: udp, dport: [], action: discard"),
	  "test.yaml:22:68: key 'dport': " WHAT_PORTS },
	{ "bad proto", POLICY("proto: gre, action: discard"),
	  "test.yaml:22:56: key 'proto': expected any, tcp, udp, icmp, icmp6, esp or 0..255" },
	{ "duplicate policy name", BASE "policies:\n"
	  "  - {name: p, direction: inbound, priority: 1, action: discard}\n"
	  "  - {name: p, direction: inbound, priority: 2, action: discard}\n",
	  "test.yaml:8:12: key 'name': duplicate name 'p' (first at line 7)" },
	/* routes */
	{ "route to unknown port", BASE ROUTE("172.16.2.0/24", "dmz", "02:00:00:00:00:0a"),
	  "test.yaml:8:11: key 'port': unknown port 'dmz'" },
	{ "route host bits set", BASE ROUTE("172.16.2.1/24", "wan", "02:00:00:00:00:0a"),
	  "test.yaml:7:10: key 'dst': expected 172.16.2.0/24 (host bits must be zero)" },
	{ "route prefix too long", BASE ROUTE("172.16.2.0/33", "wan", "02:00:00:00:00:0a"),
	  "test.yaml:7:10: key 'dst': expected a prefix length 0..32 for IPv4" },
	{ "route IPv6 prefix too long", BASE ROUTE("2001:db8::/129", "wan", "02:00:00:00:00:0a"),
	  "test.yaml:7:10: key 'dst': expected a prefix length 0..128 for IPv6" },
	{ "route prefix junk", BASE ROUTE("172.16.2.0/2x", "wan", "02:00:00:00:00:0a"),
	  "test.yaml:7:10: key 'dst': expected a prefix length 0..32 for IPv4" },
	{ "route bad next hop mac", BASE ROUTE("172.16.2.0/24", "wan", "02-00-00-00-00-0a"),
	  "test.yaml:9:19: key 'next_hop_mac': " WHAT_MAC },
	{ "duplicate route", BASE ROUTE("172.16.2.0/24", "wan", "02:00:00:00:00:0a")
	  "  - {dst: 172.16.2.0/24, port: lan, next_hop_mac: \"02:00:00:00:00:0b\"}\n",
	  "test.yaml:10:11: key 'dst': duplicate route 172.16.2.0/24 (first at line 7)" },

	/* suites */
	{ "aead and cipher", SA_WITH(AEAD128 CBC128),
	  "test.yaml:14:13: key 'cipher': not allowed with aead " WHY_ONE_SUITE },
	{ "aead and auth", SA_WITH(AEAD128 SHA1),
	  "test.yaml:14:11: key 'auth': not allowed with aead " WHY_ONE_SUITE },
	{ "no suite", SA_WITH(""),
	  "test.yaml:7:5: key 'aead': missing required key (or cipher and auth)" },
	{ "cipher without auth", SA_WITH(CBC128),
	  "test.yaml:7:5: key 'auth': missing required key with cipher" },
	{ "auth without cipher", SA_WITH(SHA1),
	  "test.yaml:7:5: key 'cipher': missing required key with auth" },
	{ "null encryption with null integrity",
	  SA_WITH("    cipher: {algorithm: null}\n    auth: {algorithm: null}\n"),
	  "test.yaml:14:11: key 'auth': NULL encryption with NULL integrity is refused"
	  " (RFC 4303 §3.2)" },
	{ "cbc without integrity but with anti-replay",
	  SA_WITH(CBC128 "    auth: {algorithm: null}\n    replay_window: 64\n"),
	  "test.yaml:15:20: key 'replay_window': expected 0 with auth null"
	  " (anti-replay needs integrity, RFC 4303 §3.4.3)" },
	{ "aes-128-cbc key too long",
	  SA_WITH("    cipher: {algorithm: aes-128-cbc, key: \"" K32 "\"}\n" SHA1),
	  "test.yaml:13:43: key 'key': expected 16 bytes (0x and 32 hex digits) for aes-128-cbc" },
	{ "aes-256-cbc key too short",
	  SA_WITH("    cipher: {algorithm: aes-256-cbc, key: \"" K16 "\"}\n" SHA1),
	  "test.yaml:13:43: key 'key': expected 32 bytes (0x and 64 hex digits) for aes-256-cbc" },
	{ "aes-128-ctr key of 20 bytes",
	  SA_WITH("    cipher: {algorithm: aes-128-ctr, key: \"" K20 "\", nonce: \"0x01020304\"}\n"
		  SHA1),
	  "test.yaml:13:43: key 'key': expected 16 bytes (0x and 32 hex digits) for aes-128-ctr" },
	{ "cipher key missing", SA_WITH("    cipher: {algorithm: aes-256-cbc}\n" SHA1),
	  "test.yaml:13:13: key 'key': missing required key for aes-256-cbc" },
	{ "ctr without nonce",
	  SA_WITH("    cipher: {algorithm: aes-128-ctr, key: \"" K16 "\"}\n" SHA256),
	  "test.yaml:13:13: key 'nonce': missing required key for aes-128-ctr (RFC 3686)" },
	{ "cbc with a nonce",
	  SA_WITH("    cipher: {algorithm: aes-128-cbc, key: \"" K16 "\", nonce: \"0xdeadbeef\"}\n"
		  SHA1),
	  "test.yaml:13:88: key 'nonce': only allowed with aes-128-ctr (RFC 3686)" },
	{ "ctr nonce too short",
	  SA_WITH("    cipher: {algorithm: aes-128-ctr, key: \"" K16 "\", nonce: \"0xdeadbe\"}\n"
		  SHA1),
	  "test.yaml:13:88: key 'nonce': expected 4 bytes (0x and 8 hex digits)" },
	{ "null cipher with a key",
	  SA_WITH("    cipher: {algorithm: null, key: \"" K16 "\"}\n" SHA1),
	  "test.yaml:13:36: key 'key': not allowed with algorithm null" },
	{ "gcm under cipher",
	  SA_WITH("    cipher: {algorithm: aes-128-gcm, key: \"" K16 "\"}\n" SHA1),
	  "test.yaml:13:25: key 'algorithm': expected aes-128-cbc, aes-256-cbc, aes-128-ctr or null"
	  " (GCM goes under aead)" },
	{ "cbc under aead", SA_AEAD("aes-128-cbc", K16, "0x01020304"),
	  "test.yaml:14:18: key 'algorithm': expected aes-128-gcm or aes-256-gcm" },
	{ "unknown key in cipher",
	  SA_WITH("    cipher: {algorithm: aes-128-cbc, key: \"" K16 "\", iv: \"0x00\"}\n" SHA1),
	  "test.yaml:13:81: key 'iv': unknown key" },
	{ "cipher is not a mapping", SA_WITH("    cipher: aes-128-cbc\n" SHA1),
	  "test.yaml:13:13: key 'cipher': expected a mapping" },
	{ "auth is not a mapping", SA_WITH(CBC128 "    auth: hmac-sha1-96\n"),
	  "test.yaml:14:11: key 'auth': expected a mapping" },
	{ "bad auth algorithm",
	  SA_WITH(CBC128 "    auth: {algorithm: hmac-md5-96, key: \"" K16 "\"}\n"),
	  "test.yaml:14:23: key 'algorithm': expected hmac-sha256-128, hmac-sha1-96 or null" },
	{ "hmac-sha1-96 key of 32 bytes",
	  SA_WITH(CBC128 "    auth: {algorithm: hmac-sha1-96, key: \"" K32 "\"}\n"),
	  "test.yaml:14:42: key 'key': expected 20 bytes (0x and 40 hex digits) for hmac-sha1-96" },
	{ "hmac-sha256-128 key of 20 bytes",
	  SA_WITH(CBC128 "    auth: {algorithm: hmac-sha256-128, key: \"" K20 "\"}\n"),
	  "test.yaml:14:45: key 'key': expected 32 bytes (0x and 64 hex digits) for hmac-sha256-128" },
	{ "auth key not hex",
	  SA_WITH(CBC128 "    auth: {algorithm: hmac-sha1-96,"
		  " key: \"0x0123456789abcdef0123456789abcdef0123456g\"}\n"),
	  "test.yaml:14:42: key 'key': expected 20 bytes (0x and 40 hex digits) for hmac-sha1-96" },
	{ "hmac without a key", SA_WITH(CBC128 "    auth: {algorithm: hmac-sha256-128}\n"),
	  "test.yaml:14:11: key 'key': missing required key for hmac-sha256-128" },
	{ "null auth with a key",
	  SA_WITH("    cipher: {algorithm: null}\n    auth: {algorithm: null, key: \"" K20 "\"}\n"),
	  "test.yaml:14:34: key 'key': not allowed with algorithm null" },
	{ "a secret typed as a key is not echoed",
	  SA_WITH("    aead: {algorithm: aes-128-gcm, key " K16 ", salt: \"0x01020304\"}\n"),
	  "test.yaml:13:36: key '(not shown)': unknown key (it looks like key material)" },
	{ "duplicate SPI across suites", BASE "sas:\n" SA("to-b", "outbound", "0x1000")
	  SA_HEAD("to-c", "outbound", "4096") CBC128 SHA1,
	  "test.yaml:16:10: key 'spi': duplicate outbound SPI 0x1000 (first in SA 'to-b' at line 7)" },
	/* mode, NAT-T, outer header */
	{ "encap on a transport SA", SA_SPI("0x1000") "    mode: transport\n    encap: {type: udp}\n",
	  "test.yaml:15:12: key 'encap': only allowed with mode tunnel" },
	{ "outer on a transport SA", SA_SPI("0x1000") "    mode: transport\n    outer: {ttl: 64}\n",
	  "test.yaml:15:12: key 'outer': only allowed with mode tunnel" },
	{ "encap type tcp", SA_SPI("0x1000") "    encap: {type: tcp}\n",
	  "test.yaml:14:19: key 'type': expected udp (RFC 3948)" },
	{ "encap without type", SA_SPI("0x1000") "    encap: {sport: 4501}\n",
	  "test.yaml:14:12: key 'type': missing required key" },
	{ "encap port 0", SA_SPI("0x1000") "    encap: {type: udp, sport: 0}\n",
	  "test.yaml:14:31: key 'sport': expected a UDP port 1..65535" },
	{ "encap port over 16 bits", SA_SPI("0x1000") "    encap: {type: udp, dport: 65536}\n",
	  "test.yaml:14:31: key 'dport': expected a UDP port 1..65535" },
	{ "df on an IPv6 tunnel", BASE "sas:\n" SA6("v6", "outbound", "0x1000")
	  "    outer: {df: set}\n",
	  "test.yaml:14:17: key 'df': only allowed with an IPv4 tunnel (IPv6 has no DF bit)" },
	{ "bad df", SA_SPI("0x1000") "    outer: {df: keep}\n",
	  "test.yaml:14:17: key 'df': expected copy, set or clear" },
	{ "dscp over 63", SA_SPI("0x1000") "    outer: {dscp: 64}\n",
	  "test.yaml:14:19: key 'dscp': expected copy or 0..63" },
	{ "ttl 0", SA_SPI("0x1000") "    outer: {ttl: 0}\n",
	  "test.yaml:14:18: key 'ttl': expected 1..255" },
	{ "outer is not a mapping", SA_SPI("0x1000") "    outer: 64\n",
	  "test.yaml:14:12: key 'outer': expected a mapping" },
	{ "esn is a list", SA_SPI("0x1000") "    esn: [true]\n",
	  "test.yaml:14:10: key 'esn': expected true or false" },
	/* families of SAs */
	{ "IPv6 address syntax in an SA", BASE "sas:\n  - name: a\n    direction: inbound\n"
	  "    spi: 300\n    peer: site-b\n    local: \"2001:db8:::1\"\n    remote: \"2001:db8::2\"\n"
	  AEAD128,
	  "test.yaml:11:12: key 'local': " WHAT_ADDR6 },
	{ "IPv6 local, IPv4 remote", BASE "sas:\n  - name: a\n    direction: inbound\n"
	  "    spi: 300\n    peer: site-b\n    local: \"2001:db8::1\"\n    remote: 10.0.0.1\n"
	  AEAD128,
	  "test.yaml:12:13: key 'remote': expected an IPv6 address (same family as local)" },
	{ "one tunnel SA for IPv4 and IPv6 policies", BASE SAS "policies:\n"
	  "  - {name: p4, direction: outbound, priority: 1, src: 192.168.1.0/24,"
	  " dst: 192.168.2.0/24, action: protect, sa: to-b}\n"
	  "  - {name: p6, direction: outbound, priority: 2, dst: \"2001:db8:2::/48\","
	  " action: protect, sa: to-b}\n",
	  "test.yaml:23:95: key 'sa': SA 'to-b' already carries IPv4 traffic for policy 'p4'"
	  " (line 22); policy 'p6' is IPv6 (a tunnel SA carries one inner family)" },
	{ "transport SA for the other family", SA_SPI("0x1000") "    mode: transport\n"
	  "policies:\n  - {name: p, direction: outbound, priority: 1, dst: \"2001:db8::2\","
	  " action: protect, sa: to-b}\n",
	  "test.yaml:16:90: key 'sa': expected an SA for IPv6 traffic"
	  " (transport-mode SA 'to-b' is IPv4)" },
	/* policies */
	{ "protect without selectors", POLICY("action: protect, sa: to-b"),
	  "test.yaml:22:5: key 'src': expected src or dst with action protect"
	  " (they give the family of the protected traffic)" },
	{ "icmp with IPv6 selectors", POLICY("dst: \"2001:db8::/32\", proto: icmp, action: discard"),
	  "test.yaml:22:78: key 'proto': expected icmp6 for IPv6 selectors (icmp is ICMPv4)" },
	{ "icmp6 with IPv4 selectors", POLICY("src: 10.0.0.0/8, proto: icmp6, action: discard"),
	  "test.yaml:22:73: key 'proto': expected icmp for IPv4 selectors (icmp6 is ICMPv6)" },
	{ "icmp_type with udp", POLICY("proto: udp, icmp_type: 8, action: discard"),
	  "test.yaml:22:72: key 'icmp_type': only allowed with proto icmp or icmp6" },
	{ "icmp_code without proto", POLICY("icmp_code: 0, action: discard"),
	  "test.yaml:22:60: key 'icmp_code': only allowed with proto icmp or icmp6" },
	{ "sport with icmp", POLICY("proto: icmp, sport: 8, action: discard"),
	  "test.yaml:22:69: key 'sport': only allowed with proto tcp or udp" },
	{ "icmp type over 255", POLICY("proto: icmp, icmp_type: 256, action: discard"),
	  "test.yaml:22:73: key 'icmp_type': " WHAT_ICMP_TYPES },
	{ "icmp_type is a mapping", POLICY("proto: icmp, icmp_type: {a: 1}, action: discard"),
	  "test.yaml:22:73: key 'icmp_type': " WHAT_ICMP_TYPES },
	{ "icmp code range lo > hi", POLICY("proto: icmp6, icmp_code: \"4-1\", action: discard"),
	  "test.yaml:22:74: key 'icmp_code': expected a range with lo <= hi" },
	{ "IPv6 prefix host bits set", POLICY("src: \"2001:db8::1/64\", action: discard"),
	  "test.yaml:22:54: key 'src': expected 2001:db8::/64 (host bits must be zero)" },
	{ "IPv6 prefix too long", POLICY("dst: \"2001:db8::/129\", action: discard"),
	  "test.yaml:22:54: key 'dst': expected a prefix length 0..128 for IPv6" },
	{ "IPv6 prefix syntax", POLICY("dst: \"2001:db8::g/64\", action: discard"),
	  "test.yaml:22:54: key 'dst': expected an IPv6 prefix like 2001:db8::/32" },
	{ "IPv4 prefix syntax", POLICY("dst: 10.0.0.256/8, action: discard"),
	  "test.yaml:22:54: key 'dst': expected an IPv4 prefix like 192.0.2.0/24" },
	{ "overlap: one prefix inside the other at equal priority", BASE "policies:\n"
	  "  - {name: a, direction: outbound, priority: 10, dst: 192.168.0.0/16, action: discard}\n"
	  "  - {name: b, direction: outbound, priority: 10, dst: 192.168.2.0/24, action: bypass}\n",
	  "test.yaml:8:46: key 'priority': policy 'b' overlaps policy 'a' (line 7)"
	  " at equal priority 10; " WHY_SPD },
	{ "overlap: the earliest of several is named", BASE "policies:\n"
	  "  - {name: a, direction: outbound, priority: 10, dst: 10.0.0.0/24, action: discard}\n"
	  "  - {name: b, direction: outbound, priority: 10, dst: 10.0.1.0/24, action: discard}\n"
	  "  - {name: c, direction: outbound, priority: 10, dst: 10.0.0.0/16, action: bypass}\n",
	  "test.yaml:9:46: key 'priority': policy 'c' overlaps policy 'a' (line 7)"
	  " at equal priority 10; " WHY_SPD },
	{ "overlap: any protocol and tcp", BASE "policies:\n"
	  "  - {name: a, direction: inbound, priority: 5, src: 10.0.0.0/8, action: discard}\n"
	  "  - {name: b, direction: inbound, priority: 5, proto: tcp, dport: 80, action: bypass}\n",
	  "test.yaml:8:45: key 'priority': policy 'b' overlaps policy 'a' (line 7)"
	  " at equal priority 5; " WHY_SPD },
	{ "overlap: port ranges meet", BASE "policies:\n"
	  "  - {name: a, direction: inbound, priority: 5, proto: tcp, dport: \"1000-2000\","
	  " action: discard}\n"
	  "  - {name: b, direction: inbound, priority: 5, proto: tcp, dport: [80, 1999],"
	  " action: bypass}\n",
	  "test.yaml:8:45: key 'priority': policy 'b' overlaps policy 'a' (line 7)"
	  " at equal priority 5; " WHY_SPD },
	{ "overlap: no selector meets IPv6", BASE "policies:\n"
	  "  - {name: a, direction: inbound, priority: 3, action: discard}\n"
	  "  - {name: b, direction: inbound, priority: 0x3, dst: \"2001:db8::/32\","
	  " action: bypass}\n",
	  "test.yaml:8:45: key 'priority': policy 'b' overlaps policy 'a' (line 7)"
	  " at equal priority 3; " WHY_SPD },
	{ "overlap: icmp type ranges meet", BASE "policies:\n"
	  "  - {name: a, direction: inbound, priority: 7, proto: icmp, icmp_type: [0, 8],"
	  " action: discard}\n"
	  "  - {name: b, direction: inbound, priority: 7, proto: icmp, icmp_type: \"5-10\","
	  " action: bypass}\n",
	  "test.yaml:8:45: key 'priority': policy 'b' overlaps policy 'a' (line 7)"
	  " at equal priority 7; " WHY_SPD },
	{ "icmp code is a list of lists", POLICY("proto: icmp, icmp_code: [[0]], action: discard"),
	  "test.yaml:22:74: key 'icmp_code': expected an ICMP code 0..255, a range \"lo-hi\" or a"
	  " list of 1..8 of those" },
	{ "prefix that is no address", POLICY("dst: lan-net, action: discard"),
	  "test.yaml:22:54: key 'dst': expected an IPv4 or IPv6 prefix like 192.0.2.0/24" },
	{ "IPv6 src, IPv4 dst", POLICY("src: \"2001:db8::/32\", dst: 10.0.0.0/8, action: discard"),
	  "test.yaml:22:76: key 'dst': expected an IPv6 prefix (same family as src)" },
	/* port addresses, IPv6 syntax */
	{ "SA endpoint that is no address", BASE "sas:\n  - name: a\n    direction: inbound\n"
	  "    spi: 300\n    peer: site-b\n    local: gw-a\n    remote: 10.0.0.2\n" AEAD128,
	  "test.yaml:11:12: key 'local': expected an IPv4 or IPv6 address" },
	{ "duplicate port address", PORT1("[10.0.0.1, \"2001:db8::1\", 10.0.0.1]"),
	  "test.yaml:2:81: key 'address': duplicate address 10.0.0.1 (first at line 2)" },
	{ "duplicate IPv6 port address in another spelling",
	  PORT1("[\"2001:db8::1\", \"2001:DB8:0::1\"]"),
	  "test.yaml:2:71: key 'address': duplicate address 2001:db8::1 (first at line 2)" },
	{ "five port addresses", PORT1("[10.0.0.1, 10.0.0.2, 10.0.0.3, 10.0.0.4, 10.0.0.5]"),
	  "test.yaml:2:55: key 'address': " WHAT_ADDRS },
	{ "empty port address list", PORT1("[]"),
	  "test.yaml:2:55: key 'address': " WHAT_ADDRS },
	{ "port address is a mapping", PORT1("{v4: 10.0.0.1}"),
	  "test.yaml:2:55: key 'address': " WHAT_ADDRS },
	{ "bad IPv6 in a port address list", PORT1("[10.0.0.1, \"2001:db8::1::2\"]"),
	  "test.yaml:2:66: key 'address': " WHAT_ADDR6 },
	{ "IPv6 zone index in a peer address",
	  PORTS "peers:\n  - {name: b, id: \"fqdn:b\", address: \"fe80::1%eth0\"}\n",
	  "test.yaml:5:38: key 'address': " WHAT_ADDR6 },
	{ "bad IPv6 route prefix",
	  BASE ROUTE("\"2001:db8::1::/64\"", "wan", "02:00:00:00:00:0a"),
	  "test.yaml:7:10: key 'dst': expected an IPv6 prefix like 2001:db8::/32" },
	{ "route to an unknown port by IPv6", BASE ROUTE("\"2001:db8::/32\"", "dmz",
	  "02:00:00:00:00:0a"),
	  "test.yaml:8:11: key 'port': unknown port 'dmz'" },
};

/*
 * No part of any key:, salt: or nonce: text in the YAML (cipher and auth
 * keys alike) may reach the message; nor may a key typed as "key 0x...".
 */
static void assert_no_secret(const char *yaml, const char *err)
{
	static const char *const marks[] = { "key: \"", "salt: \"", "nonce: \"", "key " };

	for (size_t m = 0; m < ARRAY_SIZE(marks); m++) {
		for (const char *s = strstr(yaml, marks[m]); s != NULL; s = strstr(s, marks[m])) {
			char hex[80];
			size_t n;

			s += strlen(marks[m]);
			s += strncmp(s, "0x", 2) == 0 ? 2 : 0;
			n = strspn(s, "0123456789abcdefABCDEFg");
			if (n < 6 || n >= sizeof(hex))
				continue;
			/* any 6 consecutive digits of it */
			for (size_t i = 0; i + 6 <= n; i++) {
				memcpy(hex, s + i, 6);
				hex[6] = '\0';
				CU_ASSERT_PTR_NULL(strstr(err, hex));
			}
		}
	}
}

static void test_invalid_configs_give_exact_errors(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		const struct bad_case *b = &bad_cases[i];
		char err[LG_ERR_MAX];
		struct lg_conf *c = parse(b->yaml, err);

		CU_ASSERT_PTR_NULL(c);
		lg_config_free(c);
		CU_ASSERT_STRING_EQUAL(err, b->err);
		if (strcmp(err, b->err) != 0)
			fprintf(stderr, "\n  case '%s':\n    got    %s\n    wanted %s\n",
				b->name, err, b->err);
		CU_ASSERT_PTR_NULL(strchr(err, '\n'));
		assert_no_secret(b->yaml, err);
	}
}

/* ---- warnings ---------------------------------------------------------- */

#define TRANSPORT_WARNING(line, col, sa, policy) \
	"test.yaml:" #line ":" #col ": warning: transport-mode SA '" sa "' would protect" \
	" forwarded traffic (policy '" policy "'); RFC 4301 §4.1 requires tunnel mode" \
	" when an end is a gateway"

/* Lines 7-14 and 15-22; policies start on line 24. */
static const char TRANSPORT[] =
	BASE "sas:\n"
	SA_HEAD("t-out", "outbound", "0x1000") "    mode: transport\n" AEAD128
	SA_HEAD("t-in", "inbound", "0x1000") "    mode: transport\n" AEAD128
	"policies:\n"
	"  - {name: fwd, direction: outbound, priority: 1, src: 192.168.1.0/24,"
	" dst: 172.16.2.5, action: protect, sa: t-out}\n"
	"  - {name: host, direction: outbound, priority: 2, src: 172.16.1.5,"
	" dst: 172.16.2.5/32, proto: tcp, action: protect, sa: t-out}\n"
	"  - {name: back, direction: inbound, priority: 1, src: 172.16.2.5,"
	" dst: 172.16.1.5, action: protect, sa: t-in}\n"
	"  - {name: swapped, direction: inbound, priority: 2, src: 172.16.1.5,"
	" dst: 172.16.2.5, action: protect, sa: t-in}\n"
	"  - {name: half, direction: inbound, priority: 3, dst: 172.16.1.5,"
	" action: protect, sa: t-in}\n";

static void test_transport_for_forwarded_traffic_warns(void)
{
	static const char *const want[] = {
		TRANSPORT_WARNING(24, 110, "t-out", "fwd"),
		TRANSPORT_WARNING(27, 109, "t-in", "swapped"),
		TRANSPORT_WARNING(28, 89, "t-in", "half"),
	};
	char err[LG_ERR_MAX];
	struct lg_conf *c = parse(TRANSPORT, err);

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_EQUAL_FATAL(c->nwarnings, ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		CU_ASSERT_STRING_EQUAL(c->warnings[i], want[i]);
		if (strcmp(c->warnings[i], want[i]) != 0)
			fprintf(stderr, "\n    got    %s\n    wanted %s\n", c->warnings[i], want[i]);
	}
	CU_ASSERT_EQUAL(c->sas[0].inner_af, LG_AF_INET);
	lg_config_free(c);   /* frees the warnings too (valgrind) */
}

/* Confidentiality-only ESP (RFC 4303 §3.2 MAY): accepted, anti-replay off,
 * and a warning that says what it gives up. */
static void test_cipher_without_integrity_warns(void)
{
	static const char want[] = "test.yaml:14:11: warning: SA 'to-b' has no integrity"
		" (auth null): no anti-replay, open to active attacks (RFC 4303 §3.2)";
	char err[LG_ERR_MAX];
	struct lg_conf *c = parse(SA_WITH(CBC128 "    auth: {algorithm: null}\n"), err);

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL_FATAL(c->nwarnings, 1);
	CU_ASSERT_STRING_EQUAL(c->warnings[0], want);
	if (strcmp(c->warnings[0], want) != 0)
		fprintf(stderr, "\n    got    %s\n    wanted %s\n", c->warnings[0], want);
	CU_ASSERT_EQUAL(c->sas[0].auth, LG_AUTH_NULL);
	CU_ASSERT_EQUAL(c->sas[0].replay_window, 0);
	lg_config_free(c);
}

/* ---- files, buffers, formatters ---------------------------------------- */

/* The shipped demo config, found from this file's path (the repo or a build dir). */
static void test_default_config_loads(void)
{
	char path[512], err[LG_ERR_MAX];
	const char *slash = strrchr(__FILE__, '/');
	struct lg_conf *c;
	char suite[48];

#ifdef LG_SOURCE_ROOT
	(void)slash;
	snprintf(path, sizeof(path), "%s/conf/latchgate.yaml", LG_SOURCE_ROOT);
#else
	snprintf(path, sizeof(path), "%.*s/../../conf/latchgate.yaml",
		 slash != NULL ? (int)(slash - __FILE__) : 1, slash != NULL ? __FILE__ : ".");
#endif
	c = lg_config_load(path, err, sizeof(err));
	if (c == NULL)
		fprintf(stderr, "\n  %s\n", err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_EQUAL(c->nports, 2);
	CU_ASSERT_EQUAL(c->nsas, 2);
	CU_ASSERT_STRING_EQUAL(lg_suite_format(&c->sas[0], suite, sizeof(suite)), "aes-128-gcm");
	CU_ASSERT_EQUAL(c->sas[0].inner_af, LG_AF_INET);
	CU_ASSERT_EQUAL(c->npolicies, 5);
	CU_ASSERT_EQUAL(c->nroutes, 2);
	CU_ASSERT_EQUAL(c->nwarnings, 0);
	lg_config_free(c);
}

static void test_missing_file_names_errno(void)
{
	char err[LG_ERR_MAX];

	CU_ASSERT_PTR_NULL(lg_config_load("/nonexistent/latchgate.yaml", err, sizeof(err)));
	CU_ASSERT_STRING_EQUAL(err,
			       "/nonexistent/latchgate.yaml: cannot open: No such file or directory");
}

static void test_file_loads_like_text(void)
{
	char path[] = "/tmp/test_config_XXXXXX", err[LG_ERR_MAX];
	int fd = mkstemp(path);
	struct lg_conf *c;

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(write(fd, VALID, strlen(VALID)), (ssize_t)strlen(VALID));
	close(fd);
	c = lg_config_load(path, err, sizeof(err));
	unlink(path);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_STRING_EQUAL(c->file, path);
	CU_ASSERT_EQUAL(c->nsas, 2);
	lg_config_free(c);

	CU_ASSERT_PTR_NULL(lg_config_load("/tmp", err, sizeof(err)));
	CU_ASSERT_STRING_EQUAL(err, "/tmp: cannot read: Is a directory");
}

static void test_oversized_file_is_refused(void)
{
	char path[] = "/tmp/test_config_XXXXXX", err[LG_ERR_MAX], expect[LG_ERR_MAX];
	int fd = mkstemp(path);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(ftruncate(fd, (64 << 20) + 1), 0);   /* a sparse 64 MiB + 1 */
	close(fd);
	CU_ASSERT_PTR_NULL(lg_config_load(path, err, sizeof(err)));
	unlink(path);
	snprintf(expect, sizeof(expect), "%s: cannot read: File too large", path);
	CU_ASSERT_STRING_EQUAL(err, expect);
}

static void test_error_buffer_is_truncated_safely(void)
{
	char err[16];
	const char *yaml = BASE "latches: {}\n";

	memset(err, 'x', sizeof(err));
	CU_ASSERT_PTR_NULL(lg_config_parse(yaml, strlen(yaml), "test.yaml", err, sizeof(err)));
	CU_ASSERT_STRING_EQUAL(err, "test.yaml:6:1: ");
	CU_ASSERT_PTR_NULL(lg_config_parse(yaml, strlen(yaml), "test.yaml", NULL, 0));
	CU_ASSERT_PTR_NULL(lg_config_parse(NULL, 0, NULL, err, sizeof(err)));
	CU_ASSERT_STRING_EQUAL(err, "(config):1:1: t");
	lg_config_free(NULL);
}

static void test_names_and_addresses_format(void)
{
	struct lg_addr v4 = { .af = LG_AF_INET, .b = { 192, 0, 2, 1 } };
	struct lg_addr v6 = { .af = LG_AF_INET6, .b = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 } };
	struct lg_addr none = { .af = LG_AF_NONE };
	char buf[46], small[4];

	static const struct { enum lg_cipher c; const char *name; } ciphers[] = {
		{ LG_CIPHER_NULL, "null" }, { LG_CIPHER_AES128_CBC, "aes-128-cbc" },
		{ LG_CIPHER_AES256_CBC, "aes-256-cbc" }, { LG_CIPHER_AES128_CTR, "aes-128-ctr" },
		{ LG_CIPHER_AES128_GCM, "aes-128-gcm" }, { LG_CIPHER_AES256_GCM, "aes-256-gcm" },
		{ (enum lg_cipher)17, "unknown" },
	};
	static const struct { enum lg_auth a; const char *name; } auths[] = {
		{ LG_AUTH_NULL, "null" }, { LG_AUTH_HMAC_SHA1_96, "hmac-sha1-96" },
		{ LG_AUTH_HMAC_SHA256_128, "hmac-sha256-128" }, { LG_AUTH_AEAD, "aead" },
		{ (enum lg_auth)9, "unknown" },
	};
	struct lg_conf_sa gcm = { .cipher = LG_CIPHER_AES128_GCM, .auth = LG_AUTH_AEAD };
	struct lg_conf_sa cbc = { .cipher = LG_CIPHER_AES256_CBC, .auth = LG_AUTH_HMAC_SHA256_128 };
	char suite[48], tiny[8];

	for (size_t i = 0; i < ARRAY_SIZE(ciphers); i++)
		CU_ASSERT_STRING_EQUAL(lg_cipher_name(ciphers[i].c), ciphers[i].name);
	for (size_t i = 0; i < ARRAY_SIZE(auths); i++)
		CU_ASSERT_STRING_EQUAL(lg_auth_name(auths[i].a), auths[i].name);
	CU_ASSERT_STRING_EQUAL(lg_suite_format(&gcm, suite, sizeof(suite)), "aes-128-gcm");
	CU_ASSERT_STRING_EQUAL(lg_suite_format(&cbc, suite, sizeof(suite)),
			       "aes-256-cbc/hmac-sha256-128");
	CU_ASSERT_PTR_NULL(lg_suite_format(&cbc, tiny, sizeof(tiny)));
	CU_ASSERT_STRING_EQUAL(tiny, "");
	CU_ASSERT_STRING_EQUAL(lg_action_name(LG_ACT_PROTECT), "protect");
	CU_ASSERT_STRING_EQUAL(lg_action_name(LG_ACT_BYPASS), "bypass");
	CU_ASSERT_STRING_EQUAL(lg_action_name(LG_ACT_DISCARD), "discard");
	CU_ASSERT_STRING_EQUAL(lg_dir_name(LG_DIR_OUTBOUND), "outbound");
	CU_ASSERT_STRING_EQUAL(lg_dir_name(LG_DIR_INBOUND), "inbound");
	CU_ASSERT_STRING_EQUAL(lg_addr_format(&v4, buf, sizeof(buf)), "192.0.2.1");
	CU_ASSERT_STRING_EQUAL(lg_addr_format(&v6, buf, sizeof(buf)), "2001:db8::1");
	CU_ASSERT_STRING_EQUAL(lg_addr_format(&none, buf, sizeof(buf)), "none");
	CU_ASSERT_PTR_NULL(lg_addr_format(&v4, small, sizeof(small)));
	CU_ASSERT_STRING_EQUAL(small, "");
}

/* ---- runtime edits (lg_config_edit) ----------------------------------- */

#define SA_REQ(op, body) "{\"op\":\"" op "\",\"sa\":{" body "}}"
#define SA_BODY(name, spi, key) "\"name\":\"" name "\",\"direction\":\"outbound\"," \
	"\"spi\":" spi ",\"peer\":\"site-b\",\"local\":\"172.16.1.5\"," \
	"\"remote\":\"172.16.2.5\",\"aead\":{\"algorithm\":\"aes-128-gcm\"," \
	"\"key\":\"" key "\",\"salt\":\"0x01020304\"}"
#define KEY_B "0xbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static struct lg_conf *edit(const struct lg_conf *c, enum lg_edit_kind k, enum lg_edit_op op,
			    const char *req, const char *name, char *err)
{
	return lg_config_edit(c, k, op, req, req ? strlen(req) : 0, name, err, LG_ERR_MAX);
}

static void test_sa_edits_make_a_new_config(void)
{
	char err[LG_ERR_MAX];
	struct lg_conf *c = parse(VALID, err), *a, *r, *d;
	static const char add[] = SA_REQ("sa-add", SA_BODY("to-c", "\"0x3000\"", KEY_B));
	static const char rep[] = SA_REQ("sa-replace", SA_BODY("to-b", "4097", KEY_B));

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	a = edit(c, LG_EDIT_SA, LG_EDIT_ADD, add, NULL, err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_EQUAL(a->nsas, 3);
	CU_ASSERT_STRING_EQUAL(a->sas[2].name, "to-c");
	CU_ASSERT_EQUAL(a->sas[2].spi, 0x3000);
	CU_ASSERT_EQUAL(a->sas[2].at.line, 1);          /* where the request has it */
	CU_ASSERT_EQUAL(c->nsas, 2);                    /* base unchanged */
	r = edit(a, LG_EDIT_SA, LG_EDIT_REPLACE, rep, "to-b", err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->nsas, 3);
	CU_ASSERT_EQUAL(r->sas[0].spi, 4097);           /* in place, same index */
	CU_ASSERT_EQUAL(r->sas[0].cipher_key[0], 0xbb);
	CU_ASSERT_EQUAL(r->sas[0].inner_af, LG_AF_INET); /* from its policy again */
	CU_ASSERT_EQUAL(r->policies[0].sa, 0);
	CU_ASSERT_EQUAL(a->sas[0].spi, 0x1000);
	d = edit(r, LG_EDIT_SA, LG_EDIT_DELETE, NULL, "to-c", err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_EQUAL(d->nsas, 2);
	CU_ASSERT_EQUAL(lg_config_sa_find(d, "to-c"), -1);
	CU_ASSERT_EQUAL(d->policies[3].sa, 1);          /* b-to-lan still on from-b */
	lg_config_free(d);
	lg_config_free(r);
	lg_config_free(a);
	lg_config_free(c);
}

static void test_sa_edit_errors_name_the_request(void)
{
	static const struct { enum lg_edit_op op; const char *req, *name, *want; } cases[] = {
		{ LG_EDIT_ADD, SA_REQ("sa-add", SA_BODY("to-b", "4097", KEY_B)), NULL,
		  "request:1:29: key 'name': duplicate name 'to-b'" },
		{ LG_EDIT_ADD, SA_REQ("sa-add", SA_BODY("x", "\"0x1000\"", KEY_B)), NULL,
		  "duplicate outbound SPI 0x1000" },
		{ LG_EDIT_ADD, SA_REQ("sa-add", SA_BODY("x", "4097", "0xbbbb")), NULL,
		  "key 'key': expected 16 bytes (0x and 32 hex digits) for aes-128-gcm" },
		{ LG_EDIT_ADD, "{\"op\":\"sa-add\",\"sa\":{\"name\":\"x\",\"direction\":"
		  "\"outbound\",\"spi\":4097,\"peer\":\"site-b\",\"local\":\"172.16.1.5\","
		  "\"remote\":\"172.16.2.5\",\"cipher\":{\"algorithm\":\"null\"},"
		  "\"auth\":{\"algorithm\":\"null\"}}}", NULL,
		  "NULL encryption with NULL integrity is refused" },
		{ LG_EDIT_ADD, "{\"op\":\"sa-add\"}", NULL, "key 'sa': missing required key" },
		{ LG_EDIT_REPLACE, SA_REQ("sa-replace", SA_BODY("x", "4097", KEY_B)), "x",
		  "request: unknown SA 'x'" },
		{ LG_EDIT_REPLACE, SA_REQ("sa-replace", SA_BODY("y", "4097", KEY_B)), "to-b",
		  "the new one must have the same name (got 'y')" },
		{ LG_EDIT_DELETE, NULL, "to-b",
		  "SA 'to-b' is used by policy 'lan-to-b': delete or change the policy first" },
		{ LG_EDIT_REPLACE, "{\"op\":\"sa-replace\",\"sa\":{\"name\":\"to-b\","
		  "\"direction\":\"inbound\",\"spi\":4097,\"peer\":\"site-b\",\"local\":"
		  "\"172.16.1.5\",\"remote\":\"172.16.2.5\",\"aead\":{\"algorithm\":"
		  "\"aes-128-gcm\",\"key\":\"" KEY_B "\",\"salt\":\"0x01020304\"}}}", "to-b",
		  "key 'direction': SA 'to-b' is outbound; delete it and add a new one" },
	};
	char err[LG_ERR_MAX];
	struct lg_conf *c = parse(VALID, err);

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct lg_conf *n = edit(c, LG_EDIT_SA, cases[i].op, cases[i].req, cases[i].name, err);

		CU_ASSERT_PTR_NULL(n);
		if (strstr(err, cases[i].want) == NULL)
			fprintf(stderr, "case %zu: got '%s', want '%s'\n", i, err, cases[i].want);
		CU_ASSERT_PTR_NOT_NULL(strstr(err, cases[i].want));
		CU_ASSERT_PTR_NULL(strstr(err, "bbbb"));    /* never the key */
		lg_config_free(n);
	}
	lg_config_free(c);
}

static void test_policy_edits_recheck_order_and_direction(void)
{
	char err[LG_ERR_MAX];
	struct lg_conf *c = parse(VALID, err), *n;
	static const char bypass[] = "{\"op\":\"policy-replace\",\"policy\":{\"name\":"
		"\"lan-to-b\",\"direction\":\"outbound\",\"priority\":10,\"src\":"
		"\"192.168.1.0/24\",\"dst\":\"192.168.2.0/24\",\"action\":\"bypass\"}}";
	static const char tie[] = "{\"op\":\"policy-add\",\"policy\":{\"name\":\"t\","
		"\"direction\":\"outbound\",\"priority\":10,\"dst\":\"192.168.2.7\","
		"\"action\":\"discard\"}}";
	static const char wrong_dir[] = "{\"op\":\"policy-add\",\"policy\":{\"name\":\"t\","
		"\"direction\":\"outbound\",\"priority\":5,\"dst\":\"192.168.2.7\","
		"\"action\":\"protect\",\"sa\":\"from-b\"}}";
	static const char in_sa_out[] = SA_REQ("sa-replace", "\"name\":\"from-b\","
		"\"direction\":\"outbound\",\"spi\":8193,\"peer\":\"site-b\","
		"\"local\":\"172.16.1.5\",\"remote\":\"172.16.2.5\",\"aead\":{"
		"\"algorithm\":\"aes-128-gcm\",\"key\":\"" KEY_B "\",\"salt\":\"0x01020304\"}");

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	n = edit(c, LG_EDIT_POLICY, LG_EDIT_REPLACE, bypass, "lan-to-b", err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(n);
	CU_ASSERT_EQUAL(n->npolicies, 4);
	CU_ASSERT_EQUAL(n->policies[0].action, LG_ACT_BYPASS);
	CU_ASSERT_EQUAL(n->policies[0].nsport, 0);      /* unset fields are zero */
	CU_ASSERT_EQUAL(n->policies[0].ndport, 0);
	lg_config_free(n);
	n = edit(c, LG_EDIT_POLICY, LG_EDIT_ADD, tie, NULL, err);
	CU_ASSERT_PTR_NULL(n);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "policy 't' overlaps policy 'lan-to-b'"));
	n = edit(c, LG_EDIT_POLICY, LG_EDIT_ADD, wrong_dir, NULL, err);
	CU_ASSERT_PTR_NULL(n);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "expected an outbound SA ('from-b' is inbound)"));
	/* An SA cannot be replaced by one of the other direction. */
	n = edit(c, LG_EDIT_SA, LG_EDIT_REPLACE, in_sa_out, "from-b", err);
	CU_ASSERT_PTR_NULL(n);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "SA 'from-b' is inbound; delete it and add a new one"));
	n = edit(c, LG_EDIT_POLICY, LG_EDIT_DELETE, NULL, "web", err);
	CU_ASSERT_PTR_NOT_NULL_FATAL(n);
	CU_ASSERT_EQUAL(n->npolicies, 3);
	CU_ASSERT_STRING_EQUAL(n->policies[2].name, "b-to-lan");
	lg_config_free(n);
	lg_config_free(c);
}

static void test_copy_is_deep(void)
{
	char err[LG_ERR_MAX];
	struct lg_conf *c = parse(VALID, err), *d;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	d = lg_config_copy(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(d);
	CU_ASSERT_PTR_NOT_EQUAL(d->sas, c->sas);
	CU_ASSERT_PTR_NOT_EQUAL(d->eal, c->eal);
	CU_ASSERT_PTR_NOT_EQUAL(d->eal[0], c->eal[0]);   /* the strings too */
	CU_ASSERT_STRING_EQUAL(d->eal[0], "-l");
	CU_ASSERT_EQUAL(memcmp(d->sas, c->sas, c->nsas * sizeof(*c->sas)), 0);
	CU_ASSERT_EQUAL(d->control.rekey_overlap_s, 5);
	lg_config_free(c);
	CU_ASSERT_STRING_EQUAL(d->sas[0].name, "to-b");
	lg_config_free(d);
}

int main(void)
{
	static const struct { const char *name; CU_TestFunc fn; } tests[] = {
		{ "valid config fills every field", test_valid_config_fills_every_field },
		{ "variants are accepted", test_variants_are_accepted },
		{ "invalid configs give exact errors", test_invalid_configs_give_exact_errors },
		{ "transport for forwarded traffic warns",
		  test_transport_for_forwarded_traffic_warns },
		{ "cipher without integrity warns", test_cipher_without_integrity_warns },
		{ "default config loads", test_default_config_loads },
		{ "missing file names errno", test_missing_file_names_errno },
		{ "file loads like text", test_file_loads_like_text },
		{ "oversized file is refused", test_oversized_file_is_refused },
		{ "error buffer is truncated safely", test_error_buffer_is_truncated_safely },
		{ "names and addresses format", test_names_and_addresses_format },
		{ "SA edits make a new config", test_sa_edits_make_a_new_config },
		{ "SA edit errors name the request", test_sa_edit_errors_name_the_request },
		{ "policy edits recheck order and direction",
		  test_policy_edits_recheck_order_and_direction },
		{ "copy is deep", test_copy_is_deep },
	};
	CU_pSuite suite;
	unsigned failures;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 2;
	suite = CU_add_suite("config", NULL, NULL);
	for (size_t i = 0; suite != NULL && i < ARRAY_SIZE(tests); i++)
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
			suite = NULL;
	if (suite == NULL) {
		CU_cleanup_registry();
		return 2;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures();
	CU_cleanup_registry();
	return failures != 0;
}
