/* Shared by the libFuzzer harnesses: a failed check that names itself, and
 * a walk of a doc tree that exercises every getter against the tree it
 * reads. */
#ifndef NFTPROXY_TESTS_FUZZ_H
#define NFTPROXY_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "lib/kube/doc.h"
#include "lib/model/types.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Prints where and why, then aborts so libFuzzer keeps the input. */
void fuzz_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));

#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fuzz_fail(__FILE__, __LINE__, "CHECK(" #cond ") failed: " __VA_ARGS__);    \
	} while (0)

/* Call from LLVMFuzzerInitialize: keeps a descriptor for fuzz_fail that
 * survives -close_fd_mask=2 (run.sh closes stderr because the decoders log
 * one warning per rejected object, which would flood the log). */
void fuzz_init(void);

/* Checks the getters of doc.h against d and everything below it, and folds
 * the tree into h (FNV-1a over a canonical encoding) so that two parses of
 * the same text can be compared. */
uint64_t fuzz_doc_walk(const struct doc *d, uint64_t h);

/* What types.h and decode.h promise of a decoded object: names present,
 * known protocols and families, at most one cluster IP per family, ... */
void fuzz_check_service(const struct model_service *svc);
void fuzz_check_slice(const struct model_slice *s);

/* The reflector's sink for Nodes, ud being the struct model: decodes into
 * it, checks the name, and a removal must be cluster-scoped. For the
 * harnesses that feed a Node reflector (fuzz_list, fuzz_watch). */
int fuzz_node_upsert(void *model, const struct doc *obj, char *err, size_t err_size);
int fuzz_node_remove(void *model, const char *ns, const char *name);

struct krefl;
struct uv_loop_s;
/* The end of a reflector harness (fuzz_list, fuzz_watch): closes r, runs
 * loop until the close is done and checks that nothing is left on it. */
void fuzz_reflector_close(struct krefl *r, struct uv_loop_s *loop);

#define FUZZ_HASH_INIT 0xcbf29ce484222325ULL

#endif
