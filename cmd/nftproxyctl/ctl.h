/* nftproxyctl's subcommands, one file each, dispatched by main.c. */
#ifndef NFTPROXY_CMD_CTL_H
#define NFTPROXY_CMD_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct nft_dump;

/* Exit statuses of every subcommand. */
enum {
	CTL_OK = 0,
	CTL_ERROR = 1,             /* the operation failed; the message says what */
	CTL_USAGE = 2,             /* bad flags or arguments */
};

/* argv[0] is the subcommand's name; returns an exit status. */
int ctl_dump(int argc, char **argv);
int ctl_cleanup(int argc, char **argv);

/* Prints "nftproxyctl SUB: msg" and the hint to use --help; returns CTL_USAGE. */
int ctl_usage_error(const char *sub, const char *msg);

/* Table name for --cluster-name (NULL: the default table) into buf (>= 64
 * bytes). Returns 0, or CTL_USAGE after printing why the name is invalid. */
int ctl_table_name(const char *sub, const char *cluster, char *buf, size_t size);

/* dump_table.c / dump_json.c: print d to out. Return 0 or -errno when
 * writing failed (-ENOMEM when the JSON generator ran out of memory). */
int ctl_dump_table(const struct nft_dump *d, FILE *out);
int ctl_dump_json(const struct nft_dump *d, FILE *out);

/* "tcp", "udp", "sctp", or the number. buf: at least 4 bytes. */
const char *ctl_proto_name(uint8_t proto, char *buf, size_t size);

#endif
