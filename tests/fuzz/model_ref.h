/* A reference for fuzz_model: the objects the model should hold, kept in
 * plain arrays, and the endpoints of a service port merged the obvious
 * quadratic way, as store.h describes it. The fuzzer compares the model
 * against it after every batch. */
#ifndef NFTPROXY_TESTS_FUZZ_MODEL_REF_H
#define NFTPROXY_TESTS_FUZZ_MODEL_REF_H

#include <stddef.h>

#include "lib/model/store.h"

struct model_ref {
	struct model_service **svcs;
	size_t n_svcs, cap_svcs;
	struct model_slice **slices;
	size_t n_slices, cap_slices;
};

void model_ref_fini(struct model_ref *r);

/* Take ownership; an object of the same namespace and name is replaced. */
void model_ref_put_service(struct model_ref *r, struct model_service *svc);
void model_ref_put_slice(struct model_ref *r, struct model_slice *slice);
void model_ref_delete_service(struct model_ref *r, const char *ns, const char *name);
void model_ref_delete_slice(struct model_ref *r, const char *ns, const char *name);

/* Checks m against r: the same services and slices, and for every port of
 * every service and both families the same merged endpoints. */
void model_ref_check(const struct model_ref *r, const struct model *m);

#endif
