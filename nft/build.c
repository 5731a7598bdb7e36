#include "nft/build.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libnftnl/chain.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>

#include "lib/util/hash.h"

/* nft's datatype ids, so that `nft list` shows our maps with proper types. */
#define DT_VERDICT 1
#define DT_INTEGER 4
#define DT_IPADDR 7
#define DT_IP6ADDR 8
#define DT_INET_PROTOCOL 12
#define DT_INET_SERVICE 13
#define DT_BITS 6
#define CONCAT(a, b, c) ((((a) << DT_BITS | (b)) << DT_BITS) | (c))

static struct nftnl_expr *ex(struct nftnl_rule *r, const char *name)
{
	struct nftnl_expr *e = nftnl_expr_alloc(name);

	if (e)
		nftnl_rule_add_expr(r, e);
	return e;
}

/* Each helper appends one expression; a NULL from ex() is caught by the
 * caller through nftnl_rule's expression count check below. */
static int e_meta_load(struct nftnl_rule *r, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = ex(r, "meta");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
	return 0;
}

static int e_meta_set(struct nftnl_rule *r, uint32_t key, uint32_t sreg)
{
	struct nftnl_expr *e = ex(r, "meta");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, sreg);
	return 0;
}

static int e_cmp(struct nftnl_rule *r, uint32_t sreg, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = ex(r, "cmp");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, sreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	return 0;
}

static int e_payload(struct nftnl_rule *r, uint32_t base, uint32_t off, uint32_t len, uint32_t dreg)
{
	struct nftnl_expr *e = ex(r, "payload");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
	return 0;
}

static int e_bitwise(struct nftnl_rule *r, uint32_t reg, uint32_t mask, uint32_t xor)
{
	struct nftnl_expr *e = ex(r, "bitwise");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_OP, NFT_BITWISE_BOOL);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, 4);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &mask, 4);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &xor, 4);
	return 0;
}

static int e_verdict(struct nftnl_rule *r, int verdict, const char *chain)
{
	struct nftnl_expr *e = ex(r, "immediate");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	if (chain)
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
	return 0;
}

/* A lookup in set; with dreg >= 0 a map's value lands there (NFT_REG_VERDICT
 * for a verdict map), else it only matches when the key is in the set. */
static int e_lookup_to(struct nftnl_rule *r, uint32_t sreg, const char *set, int dreg)
{
	struct nftnl_expr *e = ex(r, "lookup");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
	if (dreg >= 0)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, (uint32_t)dreg);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	/* The kernel reports flags back; set them so fingerprints match. */
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, 0);
	return 0;
}

static int e_lookup_vmap(struct nftnl_rule *r, uint32_t sreg, const char *set)
{
	return e_lookup_to(r, sreg, set, NFT_REG_VERDICT);
}

/* ct KEY & BITS != 0 (ct state new, ct status dnat), in register 1. */
static int e_ct_bits(struct nftnl_rule *r, uint32_t key, uint32_t bits)
{
	struct nftnl_expr *e = ex(r, "ct");
	uint32_t zero = 0;
	int ret;

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	if ((ret = e_bitwise(r, NFT_REG_1, bits, 0)) < 0)
		return ret;
	return e_cmp(r, NFT_REG_1, NFT_CMP_NEQ, &zero, 4);
}

/* meta nfproto ipv4|ipv6: what `ip daddr` implies in an inet table. */
static int e_nfproto(struct nftnl_rule *r, uint8_t family)
{
	uint8_t p = family == AF_INET6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
	int ret = e_meta_load(r, NFT_META_NFPROTO, NFT_REG_1);

	return ret < 0 ? ret : e_cmp(r, NFT_REG_1, NFT_CMP_EQ, &p, 1);
}

static int e_l4proto_is(struct nftnl_rule *r, uint8_t proto)
{
	int ret = e_meta_load(r, NFT_META_L4PROTO, NFT_REG_1);

	return ret < 0 ? ret : e_cmp(r, NFT_REG_1, NFT_CMP_EQ, &proto, 1);
}

static int e_imm_data(struct nftnl_rule *r, uint32_t dreg, const void *data, uint32_t len)
{
	struct nftnl_expr *e = ex(r, "immediate");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, dreg);
	nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len);
	return 0;
}

/* A lookup in a plain set (no value): matches when the key is there. */
static int e_lookup(struct nftnl_rule *r, uint32_t sreg, const char *set)
{
	return e_lookup_to(r, sreg, set, -1);
}

/* ip saddr / ip daddr (ip6 for AF_INET6) into register 1, after the
 * family check an inet table needs. */
static int e_addr(struct nftnl_rule *r, uint8_t family, bool src)
{
	bool v6 = family == AF_INET6;
	int ret = e_nfproto(r, family);

	if (ret < 0)
		return ret;
	return e_payload(r, NFT_PAYLOAD_NETWORK_HEADER,
			 src ? (v6 ? 8 : 12) : (v6 ? 24 : 16), v6 ? 16 : 4, NFT_REG_1);
}

/* ip saddr|daddr ==|!= ADDR/PLEN */
static int e_prefix(struct nftnl_rule *r, const struct ip_addr *net, uint8_t plen, bool src,
		    uint32_t op)
{
	uint32_t len = net->family == AF_INET6 ? 16 : 4;
	uint8_t mask[16] = { 0 }, zero[16] = { 0 }, want[16];
	struct nftnl_expr *e;
	int ret;

	if ((ret = e_addr(r, (uint8_t)net->family, src)) < 0)
		return ret;
	for (uint32_t i = 0; i < len; i++) {
		int bits = (int)plen - (int)(8 * i);

		mask[i] = bits >= 8 ? 0xff : bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
		want[i] = net->bytes[i] & mask[i];
	}
	if (plen < 8 * len) {
		e = ex(r, "bitwise");
		if (!e)
			return -ENOMEM;
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_OP, NFT_BITWISE_BOOL);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, len);
	}
	return e_cmp(r, NFT_REG_1, op, want, len);
}

/* dnat ip|ip6 to the address in register 1 and the port in port_reg. */
static int e_dnat(struct nftnl_rule *r, bool v6, uint32_t port_reg)
{
	struct nftnl_expr *e = ex(r, "nat");

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, v6 ? NFPROTO_IPV6 : NFPROTO_IPV4);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, port_reg);
	/* Spelled out as the kernel reports it back (max = min). */
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MAX, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MAX, port_reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FLAGS,
			   NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED);
	return 0;
}

/* meta mark set meta mark | MARK */
static int e_mark_or(struct nftnl_rule *r, uint32_t mark)
{
	int ret;

	if ((ret = e_meta_load(r, NFT_META_MARK, NFT_REG_1)) < 0 ||
	    (ret = e_bitwise(r, NFT_REG_1, ~mark, mark)) < 0)
		return ret;
	return e_meta_set(r, NFT_META_MARK, NFT_REG_1);
}

/* fib saddr type local */
static int e_fib_saddr_local(struct nftnl_rule *r)
{
	struct nftnl_expr *e = ex(r, "fib");
	uint32_t local = 2; /* RTN_LOCAL */

	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS, NFTA_FIB_F_SADDR);
	return e_cmp(r, NFT_REG_1, NFT_CMP_EQ, &local, 4);
}

/* update @SET { ip saddr } meta l4proto PROTO dnat ip to ADDR:PORT: the
 * tail of the session-affinity rules. */
static int e_affinity_dnat(struct nftnl_rule *r, const struct nft_rule_ir *ir)
{
	bool v6 = ir->family == AF_INET6;
	uint16_t nport = htons(ir->port);
	struct nftnl_expr *e;
	int ret;

	if ((ret = e_addr(r, ir->family, true)) < 0)
		return ret;
	e = ex(r, "dynset");
	if (!e)
		return -ENOMEM;
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
	nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, ir->set);
	/* As the kernel reports them back, so fingerprints match. */
	nftnl_expr_set_u64(e, NFTNL_EXPR_DYNSET_TIMEOUT, 0);
	nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_FLAGS, 0);
	if ((ret = e_l4proto_is(r, ir->proto)) < 0 ||
	    (ret = e_imm_data(r, NFT_REG_1, ir->addr.bytes, v6 ? 16 : 4)) < 0 ||
	    (ret = e_imm_data(r, NFT_REG_2, &nport, 2)) < 0)
		return ret;
	return e_dnat(r, v6, NFT_REG_2);
}

static int build_exprs(struct nftnl_rule *nr, const struct nft_rule_ir *r)
{
	char m[16];
	int ret = 0;

	switch (r->kind) {
	case NFT_RULE_JUMP:
		/* jump TARGET */
		return e_verdict(nr, NFT_JUMP, r->target);
	case NFT_RULE_CT_NEW_JUMP:
		/* ct state new jump TARGET */
		if ((ret = e_ct_bits(nr, NFT_CT_STATE, NF_CT_STATE_BIT(IP_CT_NEW))) < 0)
			return ret;
		return e_verdict(nr, NFT_JUMP, r->target);
	case NFT_RULE_DISPATCH: {
		/* ip daddr . meta l4proto . th dport vmap @SET: each field fills
		 * whole 32-bit registers, one after the other. */
		bool v6 = r->family == AF_INET6;
		/* The kernel reports a 32-bit register on a 128-bit boundary
		 * by its 128-bit name: use that name so fingerprints match. */
		uint32_t proto_reg = v6 ? NFT_REG_2 : NFT_REG32_01;
		uint32_t port_reg = v6 ? NFT_REG32_05 : NFT_REG32_02;

		if ((ret = e_nfproto(nr, r->family)) < 0 ||
		    (ret = e_payload(nr, NFT_PAYLOAD_NETWORK_HEADER, v6 ? 24 : 16, v6 ? 16 : 4,
				     NFT_REG_1)) < 0 ||
		    (ret = e_meta_load(nr, NFT_META_L4PROTO, proto_reg)) < 0 ||
		    (ret = e_payload(nr, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, port_reg)) < 0)
			return ret;
		return e_lookup_vmap(nr, NFT_REG_1, r->target);
	}
	case NFT_RULE_LB: {
		/* meta l4proto PROTO dnat ip to numgen random mod MOD offset OFFSET
		 * map @lb-NNNN: the map's value is ADDR . PORT, which lands in the
		 * register after the address (32-bit reg 9 for IPv4, 128-bit reg 2
		 * for IPv6, as the kernel names them). The key is made big endian
		 * first: the interval tree compares keys as bytes. */
		bool v6 = r->family == AF_INET6;
		uint32_t port_reg = v6 ? NFT_REG_2 : NFT_REG32_01;
		struct nftnl_expr *e;

		if ((ret = e_l4proto_is(nr, r->proto)) < 0)
			return ret;
		e = ex(nr, "numgen");
		if (!e)
			return -ENOMEM;
		nftnl_expr_set_u32(e, NFTNL_EXPR_NG_DREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NG_TYPE, NFT_NG_RANDOM);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NG_MODULUS, r->mod);
		nftnl_expr_set_u32(e, NFTNL_EXPR_NG_OFFSET, r->offset);
		e = ex(nr, "byteorder");
		if (!e)
			return -ENOMEM;
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_DREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_OP, NFT_BYTEORDER_HTON);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_LEN, 4);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SIZE, 4);
		if ((ret = e_lookup_to(nr, NFT_REG_1, nft_lb_map_name(r->map, m), NFT_REG_1)) < 0)
			return ret;
		return e_dnat(nr, v6, port_reg);
	}
	case NFT_RULE_HAIRPIN: {
		/* ct status dnat ip saddr . ip daddr @SET masquerade fully-random:
		 * a pod that reached itself through a service. */
		bool v6 = r->family == AF_INET6;
		struct nftnl_expr *e;

		if ((ret = e_ct_bits(nr, NFT_CT_STATUS, IPS_DST_NAT)) < 0 ||
		    (ret = e_nfproto(nr, r->family)) < 0 ||
		    (ret = e_payload(nr, NFT_PAYLOAD_NETWORK_HEADER, v6 ? 8 : 12, v6 ? 16 : 4,
				     NFT_REG_1)) < 0 ||
		    (ret = e_payload(nr, NFT_PAYLOAD_NETWORK_HEADER, v6 ? 24 : 16, v6 ? 16 : 4,
				     v6 ? NFT_REG_2 : NFT_REG32_01)) < 0)
			return ret;
		if ((ret = e_lookup(nr, NFT_REG_1, r->target)) < 0)
			return ret;
		e = ex(nr, "masq");
		if (!e)
			return -ENOMEM;
		nftnl_expr_set_u32(e, NFTNL_EXPR_MASQ_FLAGS, NF_NAT_RANGE_PROTO_RANDOM_FULLY);
		return 0;
	}
	case NFT_RULE_RETURN_UNLESS_MARK: {
		/* meta mark & MARK == 0 return */
		uint32_t zero = 0;

		if ((ret = e_meta_load(nr, NFT_META_MARK, NFT_REG_1)) < 0 ||
		    (ret = e_bitwise(nr, NFT_REG_1, r->mark, 0)) < 0 ||
		    (ret = e_cmp(nr, NFT_REG_1, NFT_CMP_EQ, &zero, 4)) < 0)
			return ret;
		return e_verdict(nr, NFT_RETURN, NULL);
	}
	case NFT_RULE_CLEAR_MARK:
		/* meta mark set meta mark ^ MARK */
		if ((ret = e_meta_load(nr, NFT_META_MARK, NFT_REG_1)) < 0 ||
		    (ret = e_bitwise(nr, NFT_REG_1, 0xffffffffu, r->mark)) < 0)
			return ret;
		return e_meta_set(nr, NFT_META_MARK, NFT_REG_1);
	case NFT_RULE_MASQUERADE: {
		/* masquerade fully-random */
		struct nftnl_expr *e = ex(nr, "masq");

		if (!e)
			return -ENOMEM;
		nftnl_expr_set_u32(e, NFTNL_EXPR_MASQ_FLAGS, NF_NAT_RANGE_PROTO_RANDOM_FULLY);
		return 0;
	}
	case NFT_RULE_REJECT_TCP: {
		/* meta l4proto tcp reject with tcp reset */
		struct nftnl_expr *e;

		if ((ret = e_l4proto_is(nr, IPPROTO_TCP)) < 0)
			return ret;
		e = ex(nr, "reject");
		if (!e)
			return -ENOMEM;
		nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_TCP_RST);
		nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, 0);
		return 0;
	}
	case NFT_RULE_REJECT: {
		/* reject (icmpx port-unreachable) */
		struct nftnl_expr *e = ex(nr, "reject");

		if (!e)
			return -ENOMEM;
		nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_ICMPX_UNREACH);
		nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, NFT_REJECT_ICMPX_PORT_UNREACH);
		return 0;
	}
	case NFT_RULE_GOTO:
		return e_verdict(nr, NFT_GOTO, r->target);
	case NFT_RULE_MARK:
		return e_mark_or(nr, r->mark);
	case NFT_RULE_MASQ_CLUSTER:
		/* ip daddr @cluster-ips [ip saddr != LOCAL] meta mark set meta mark | MARK */
		if ((ret = e_addr(nr, r->family, false)) < 0 ||
		    (ret = e_lookup(nr, NFT_REG_1, r->set)) < 0)
			return ret;
		if (r->addr.family &&
		    (ret = e_prefix(nr, &r->addr, r->plen, true, NFT_CMP_NEQ)) < 0)
			return ret;
		return e_mark_or(nr, r->mark);
	case NFT_RULE_SADDR_GOTO:
		if ((ret = e_prefix(nr, &r->addr, r->plen, true, NFT_CMP_EQ)) < 0)
			return ret;
		return e_verdict(nr, NFT_GOTO, r->target);
	case NFT_RULE_SADDR_RETURN:
		if ((ret = e_prefix(nr, &r->addr, r->plen, true, NFT_CMP_EQ)) < 0)
			return ret;
		return e_verdict(nr, NFT_RETURN, NULL);
	case NFT_RULE_FIB_LOCAL_MARK:
		if ((ret = e_fib_saddr_local(nr)) < 0)
			return ret;
		return e_mark_or(nr, r->mark);
	case NFT_RULE_FIB_LOCAL_GOTO:
		if ((ret = e_fib_saddr_local(nr)) < 0)
			return ret;
		return e_verdict(nr, NFT_GOTO, r->target);
	case NFT_RULE_NODEPORT_DISPATCH: {
		/* ip daddr @SET meta l4proto . th dport vmap @MAP: the key is
		 * registers 9 and 10 (proto, port) after the address check. */
		if ((ret = e_addr(nr, r->family, false)) < 0 ||
		    (ret = e_lookup(nr, NFT_REG_1, r->set)) < 0 ||
		    (ret = e_meta_load(nr, NFT_META_L4PROTO, NFT_REG_1)) < 0 ||
		    (ret = e_payload(nr, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_01)) < 0)
			return ret;
		return e_lookup_vmap(nr, NFT_REG_1, r->target);
	}
	case NFT_RULE_DADDR_SET_GOTO:
		if ((ret = e_addr(nr, r->family, false)) < 0 ||
		    (ret = e_lookup(nr, NFT_REG_1, r->set)) < 0)
			return ret;
		return e_verdict(nr, NFT_GOTO, r->target);
	case NFT_RULE_DADDR_DROP:
		if ((ret = e_prefix(nr, &r->addr, r->plen, false, NFT_CMP_EQ)) < 0)
			return ret;
		return e_verdict(nr, NF_DROP, NULL);
	case NFT_RULE_DROP:
		return e_verdict(nr, NF_DROP, NULL);
	case NFT_RULE_AFFINITY:
		/* ip saddr @SET ... */
		if ((ret = e_addr(nr, r->family, true)) < 0 ||
		    (ret = e_lookup(nr, NFT_REG_1, r->set)) < 0)
			return ret;
		return e_affinity_dnat(nr, r);
	case NFT_RULE_PICK:
		if (r->mod > 1) {
			/* numgen random mod MOD 0: one in MOD of the packets
			 * that get here (1/n, then 1/(n-1) of the rest, ...). */
			struct nftnl_expr *e = ex(nr, "numgen");
			uint32_t zero = 0;

			if (!e)
				return -ENOMEM;
			nftnl_expr_set_u32(e, NFTNL_EXPR_NG_DREG, NFT_REG_1);
			nftnl_expr_set_u32(e, NFTNL_EXPR_NG_TYPE, NFT_NG_RANDOM);
			nftnl_expr_set_u32(e, NFTNL_EXPR_NG_MODULUS, r->mod);
			nftnl_expr_set_u32(e, NFTNL_EXPR_NG_OFFSET, 0);
			if ((ret = e_cmp(nr, NFT_REG_1, NFT_CMP_EQ, &zero, 4)) < 0)
				return ret;
		}
		return e_affinity_dnat(nr, r);
	}
	return -EINVAL;
}

int nfb_rule_build(const char *table, const char *chain, const struct nft_rule_ir *r,
		   struct nftnl_rule **out)
{
	struct nftnl_rule *nr = nftnl_rule_alloc();
	int ret;

	if (!nr)
		return -ENOMEM;
	nftnl_rule_set_u32(nr, NFTNL_RULE_FAMILY, NFPROTO_INET);
	nftnl_rule_set_str(nr, NFTNL_RULE_TABLE, table);
	nftnl_rule_set_str(nr, NFTNL_RULE_CHAIN, chain);
	ret = build_exprs(nr, r);
	if (ret < 0) {
		nftnl_rule_free(nr);
		return ret;
	}
	*out = nr;
	return 0;
}

static uint32_t hook_num(enum nft_hook h)
{
	switch (h) {
	case NFT_HOOK_PREROUTING: return NF_INET_PRE_ROUTING;
	case NFT_HOOK_INPUT: return NF_INET_LOCAL_IN;
	case NFT_HOOK_FORWARD: return NF_INET_FORWARD;
	case NFT_HOOK_OUTPUT: return NF_INET_LOCAL_OUT;
	case NFT_HOOK_POSTROUTING: return NF_INET_POST_ROUTING;
	case NFT_HOOK_NONE: break;
	}
	return 0;
}

struct nftnl_chain *nfb_chain_build(const char *table, const struct nft_chain_ir *c)
{
	struct nftnl_chain *nc = nftnl_chain_alloc();

	if (!nc)
		return NULL;
	nftnl_chain_set_u32(nc, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	nftnl_chain_set_str(nc, NFTNL_CHAIN_TABLE, table);
	nftnl_chain_set_str(nc, NFTNL_CHAIN_NAME, c->name);
	if (c->hook != NFT_HOOK_NONE) {
		nftnl_chain_set_u32(nc, NFTNL_CHAIN_HOOKNUM, hook_num(c->hook));
		nftnl_chain_set_s32(nc, NFTNL_CHAIN_PRIO, c->prio);
		nftnl_chain_set_str(nc, NFTNL_CHAIN_TYPE, c->type);
		nftnl_chain_set_u32(nc, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	}
	return nc;
}

/* The set user data nft 1.0.6 writes for these declarations (key byte
 * order, and for the LB maps `typeof numgen random mod 2`), so that
 * `nft list` prints our maps' keys as it prints its own: without it a host
 * byte order integer shows byte-swapped. Captured from nft itself. */
static const uint8_t udata_service[] = {
	0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, 0x03, 0x08,
	0x00, 0x04, 0x0d, 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00,
};
/* typeof numgen random mod 2 : ip daddr . th dport; flags interval (and
 * ip6 daddr for the IPv6 maps: two bytes differ). `th dport`, not `tcp
 * dport`: TCP, UDP and SCTP service ports share a map, and nft refuses to
 * load `meta l4proto udp dnat ... map` into a map typed by `tcp dport`. */
static const uint8_t udata_lb[] = {
	0x00, 0x04, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, 0x03, 0x1a,
	0x00, 0x04, 0x17, 0x00, 0x00, 0x00, 0x01, 0x12, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00,
	0x01, 0x04, 0x02, 0x00, 0x00, 0x00, 0x02, 0x04, 0x00, 0x00, 0x00, 0x00, 0x04, 0x34,
	0x00, 0x04, 0x0d, 0x00, 0x00, 0x00, 0x01, 0x2c, 0x00, 0x14, 0x00, 0x04, 0x07, 0x00,
	0x00, 0x00, 0x01, 0x0c, 0x00, 0x04, 0x0c, 0x00, 0x00, 0x00, 0x01, 0x04, 0x0c, 0x00,
	0x00, 0x00, 0x01, 0x14, 0x00, 0x04, 0x07, 0x00, 0x00, 0x00, 0x01, 0x0c, 0x00, 0x04,
	0x0b, 0x00, 0x00, 0x00, 0x01, 0x04, 0x02, 0x00, 0x00, 0x00, 0x06, 0x04, 0x00, 0x00,
	0x00, 0x00,
};
/* Offsets in udata_lb of the bytes that say ip / 12 vs ip6 / 9 (the
 * payload field's protocol and offset). */
#define UDATA_LB_V6_PROTO 62
#define UDATA_LB_V6_OFFSET 68
/* type ipv4_addr . ipv4_addr (and ipv6_addr . ipv6_addr) */
static const uint8_t udata_hairpin[] = {
	0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x03, 0x08, 0x00, 0x04, 0x0d, 0x00, 0x00, 0x00,
	0x01, 0x00,
};
#define CONCAT2(a, b) (((a) << DT_BITS) | (b))

struct nftnl_set *nfb_set_build(const char *table, enum nft_set_kind kind, uint32_t lb_map,
			       uint32_t timeout_s)
{
	struct nftnl_set *s = nftnl_set_alloc();
	char m[16];

	if (!s)
		return NULL;
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
	switch (kind) {
	case NFT_SET_SERVICE4:
	case NFT_SET_SERVICE6:
		/* ipv4_addr . inet_proto . inet_service : verdict */
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE,
				  CONCAT(kind == NFT_SET_SERVICE4 ? DT_IPADDR : DT_IP6ADDR,
					 DT_INET_PROTOCOL, DT_INET_SERVICE));
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, kind == NFT_SET_SERVICE4 ? 12 : 24);
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_MAP);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, 0);
		nftnl_set_set_data(s, NFTNL_SET_USERDATA, udata_service, sizeof(udata_service));
		break;
	case NFT_SET_LB: {
		/* integer ranges (numgen's output) : ADDR . PORT */
		bool v6 = lb_map & NFT_LB_V6;
		uint8_t u[sizeof(udata_lb)];

		memcpy(u, udata_lb, sizeof(u));
		if (v6) {
			u[UDATA_LB_V6_PROTO] = 0x0d;
			u[UDATA_LB_V6_OFFSET] = 0x09;
		}
		nftnl_set_set_str(s, NFTNL_SET_NAME, nft_lb_map_name(lb_map, m));
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, DT_INTEGER);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, 4);
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_MAP | NFT_SET_INTERVAL);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE,
				  CONCAT2(v6 ? DT_IP6ADDR : DT_IPADDR, DT_INET_SERVICE));
		nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, v6 ? 20 : 8);
		nftnl_set_set_data(s, NFTNL_SET_USERDATA, u, sizeof(u));
		break;
	}
	case NFT_SET_HAIRPIN4:
	case NFT_SET_HAIRPIN6: {
		bool v6 = kind == NFT_SET_HAIRPIN6;

		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE,
				  CONCAT2(v6 ? DT_IP6ADDR : DT_IPADDR, v6 ? DT_IP6ADDR : DT_IPADDR));
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, v6 ? 32 : 8);
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, 0);
		nftnl_set_set_data(s, NFTNL_SET_USERDATA, udata_hairpin, sizeof(udata_hairpin));
		break;
	}
	case NFT_SET_NODEPORT:
		/* inet_proto . inet_service : verdict */
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, CONCAT2(DT_INET_PROTOCOL, DT_INET_SERVICE));
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, 8);
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_MAP);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, 0);
		break;
	case NFT_SET_ADDR4:
	case NFT_SET_ADDR6:
	case NFT_SET_AFFINITY4:
	case NFT_SET_AFFINITY6: {
		bool v6 = kind == NFT_SET_ADDR6 || kind == NFT_SET_AFFINITY6;

		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, v6 ? DT_IP6ADDR : DT_IPADDR);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, v6 ? 16 : 4);
		if (kind == NFT_SET_AFFINITY4 || kind == NFT_SET_AFFINITY6) {
			/* flags dynamic, timeout; timeout Ns: filled from the
			 * packet path (update @set { ip saddr }). */
			nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_TIMEOUT | NFT_SET_EVAL);
			nftnl_set_set_u64(s, NFTNL_SET_TIMEOUT, (uint64_t)timeout_s * 1000);
		} else {
			nftnl_set_set_u32(s, NFTNL_SET_FLAGS, 0);
		}
		break;
	}
	}
	return s;
}

/* The fingerprint of a base chain's type, hook and priority. The type is
 * hashed as it is, not formatted into a buffer: a chain read back may carry
 * a type of any length (the kernel's, or another program's), and a
 * truncated copy must neither overrun nor match one of ours. */
static uint64_t fp_base(const char *type, unsigned int hook, int prio)
{
	char buf[32];
	uint64_t fp = hash_fnv1a("base ", 5, 0);
	int n;

	fp = hash_fnv1a(type, strlen(type), fp);
	n = snprintf(buf, sizeof(buf), " %u %d", hook, prio);
	return hash_fnv1a(buf, (size_t)n, fp);
}

uint64_t nfb_fp_init(const struct nft_chain_ir *c)
{
	if (!c || c->hook == NFT_HOOK_NONE)
		return hash_fnv1a("chain", 5, 0);
	return fp_base(c->type, hook_num(c->hook), c->prio);
}

uint64_t nfb_fp_init_nl(const struct nftnl_chain *c)
{
	if (!nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM))
		return hash_fnv1a("chain", 5, 0);
	return fp_base(nftnl_chain_is_set(c, NFTNL_CHAIN_TYPE) ?
			       nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE) : "?",
		       nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM),
		       nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO));
}

static int fp_expr_cb(struct nftnl_expr *e, void *data)
{
	uint64_t *fp = data;
	char buf[512];
	int n = nftnl_expr_snprintf(buf, sizeof(buf), e, NFTNL_OUTPUT_DEFAULT, 0);
	const char *name;

	if (n > 0) {
		if ((size_t)n >= sizeof(buf))
			n = sizeof(buf) - 1;
		*fp = hash_fnv1a(buf, (size_t)n, *fp);
	}
	name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
	*fp = hash_fnv1a(name, strlen(name), *fp);
	*fp = hash_fnv1a(";", 1, *fp);
	return 0;
}

uint64_t nfb_fp_add_rule(uint64_t fp, const struct nftnl_rule *r)
{
	nftnl_expr_foreach((struct nftnl_rule *)r, fp_expr_cb, &fp);
	return hash_fnv1a("\n", 1, fp);
}
