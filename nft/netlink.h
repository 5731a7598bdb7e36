/* The only code that opens a netfilter netlink socket. Sends a plan as one
 * NFNL_MSG_BATCH_BEGIN ... END batch (the kernel applies all or nothing)
 * and runs dumps for the read-back. */
#ifndef NFTPROXY_NFT_NETLINK_H
#define NFTPROXY_NFT_NETLINK_H

#include <stddef.h>
#include <stdint.h>

struct nfk;
struct nft_plan;
struct nlmsghdr;

int nfk_open(struct nfk **out);
/* The socket nfk_open uses, alone: netfilter netlink, bound, with extended
 * acks (for nft/cleanup.c, which speaks other families). Logs why it fails.
 * Returns 0 or -errno. */
struct mnl_socket;
int nfk_mnl_open(struct mnl_socket **nl, uint32_t *portid);
void nfk_close(struct nfk *n);

struct nfk_send_stats {
	size_t messages;
	size_t bytes;
	double kernel_ms;          /* sendmsg and the acks: the kernel checks and commits
	                              the batch inside sendmsg */
};

/* Serialises the plan into one batch and sends it. On a kernel error the whole batch is
 * void; each error is logged naming the operation's object and owner.
 * Returns 0, or the first kernel error (-errno). */
int nfk_send_plan(struct nfk *n, const struct nft_plan *p, struct nfk_send_stats *st);

/* Runs a dump request (NFT_MSG_GET* with NLM_F_DUMP) and calls cb for each
 * message. build fills the request (table filter etc.) after the header.
 * Returns 0, -ENOENT when the table does not exist, or -errno. */
int nfk_dump(struct nfk *n, uint16_t msg_type, void (*build)(struct nlmsghdr *nlh, void *arg),
	      void *arg, int (*cb)(const struct nlmsghdr *nlh, void *data), void *data);

/* The same for a request that is not a dump (flags: e.g. 0). */
int nfk_query(struct nfk *n, uint16_t msg_type, uint16_t flags,
	      void (*build)(struct nlmsghdr *nlh, void *arg), void *arg,
	      int (*cb)(const struct nlmsghdr *nlh, void *data), void *data);

/* Deletes table `name` (inet family) in its own batch. Returns 0, -ENOENT. */
int nfk_delete_table(struct nfk *n, const char *name);

#endif
