#ifndef NFTPROXY_TESTS_GEN_H
#define NFTPROXY_TESTS_GEN_H

#include "lib/model/types.h"

/* Service i; caller owns it (model_service_upsert takes it). */
struct model_service *gen_service(unsigned i);
/* The slice of service i with n_eps endpoints; gen shifts every address so
 * that a different gen gives different endpoints. */
struct model_slice *gen_slice(unsigned i, unsigned n_eps, unsigned gen);

#endif
