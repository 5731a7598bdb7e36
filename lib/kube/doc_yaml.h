/* YAML (a stream of one or more documents) to doc trees.
 *
 * Plain scalars are typed by the YAML 1.2 core schema: null, ~ and the empty
 * value are null; true/false (also True, TRUE, ...) are booleans; decimal,
 * 0x and 0o integers and decimal floats are numbers; everything else,
 * including yes/no/on/off, is a string. Quoted and block scalars are always
 * strings, so `port: "80"` is a string and `port: 80` a number. The tags
 * !!str, !!int, !!float, !!bool and !!null are honoured; other tags and
 * aliases (*name) are rejected as errors. */
#ifndef NFTPROXY_KUBE_DOC_YAML_H
#define NFTPROXY_KUBE_DOC_YAML_H

#include <stddef.h>

#include "lib/kube/doc.h"

/* Parses buf and calls cb with the root of each document in order (an empty
 * document gives a DOC_NULL root). Returns 0; -EBADMSG on a syntax error or
 * a rejected construct, with "line 3 column 7: <what is wrong>" in err;
 * -E2BIG when nested deeper than DOC_MAX_DEPTH (also described in err);
 * -ENOMEM; or the callback's negative return. The documents before an error
 * have already been passed to cb. */
int doc_yaml_parse(const void *buf, size_t len, doc_cb cb, void *data, char *err,
		   size_t err_size);

#endif
