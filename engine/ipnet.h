/* ipnet.h: IPv4 and IPv6 addresses and CIDR blocks, for the mesh providers' policies that match a
 * client's address (Istio's ipBlocks, Linkerd's networks). Prefix mp_ipnet_. Internal to the
 * engine. */
#ifndef MP_IPNET_H
#define MP_IPNET_H

#include <stdint.h>

/* An address (bits = 32 or 128) or a block of them (the first bits count). */
typedef struct {
	uint8_t family; /* 4 or 6; 0: none (absent or unparsable) */
	uint8_t bits;
	unsigned char addr[16];
} mp_ipnet;

/* Parses an address, or with cidr an address or "address/prefix" (a bare address is one
 * address: /32, /128). 0, or -1 with out->family 0 when s is neither. */
int mp_ipnet_parse(const char *s, mp_ipnet *out, int cidr);
/* Is ip (an address; family 0 is none) inside the block net? Families must agree. */
int mp_ipnet_contains(const mp_ipnet *net, const mp_ipnet *ip);

#endif
