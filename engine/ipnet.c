/* ipnet.c: addresses and CIDR blocks (ipnet.h). */
#include "ipnet.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

int mp_ipnet_parse(const char *s, mp_ipnet *out, int cidr)
{
	char buf[64];
	const char *slash = cidr ? strchr(s, '/') : NULL;
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	memset(out, 0, sizeof(*out));
	if (n >= sizeof(buf))
		goto fail;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, out->addr) == 1)
		out->family = 4;
	else if (inet_pton(AF_INET6, buf, out->addr) == 1)
		out->family = 6;
	else
		goto fail;
	int max = out->family == 4 ? 32 : 128;
	out->bits = (uint8_t)max;
	if (slash) {
		char *end;
		long b = strtol(slash + 1, &end, 10);
		if (!slash[1] || *end || b < 0 || b > max)
			goto fail;
		out->bits = (uint8_t)b;
	}
	return 0;
fail:
	memset(out, 0, sizeof(*out));
	return -1;
}

int mp_ipnet_contains(const mp_ipnet *net, const mp_ipnet *ip)
{
	if (!ip->family || ip->family != net->family)
		return 0;
	uint32_t full = net->bits / 8u, rest = net->bits % 8u;
	if (memcmp(ip->addr, net->addr, full))
		return 0;
	if (!rest)
		return 1;
	unsigned char mask = (unsigned char)(0xff << (8 - rest));
	return (ip->addr[full] & mask) == (net->addr[full] & mask);
}
