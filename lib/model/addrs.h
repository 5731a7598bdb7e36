/* Which service holds each cluster IP, and which addresses services claim
 * as external IPs or LoadBalancer ingress IPs: the model's index that lets
 * the compiler refuse a claim of another service's cluster IP whatever the
 * order the services arrive or are compiled in (docs/SECURITY.md).
 *
 * Internal to lib/model (store.c keeps one in the model). */
#ifndef NFTPROXY_MODEL_ADDRS_H
#define NFTPROXY_MODEL_ADDRS_H

#include <stdbool.h>

#include "lib/model/types.h"
#include "lib/util/hmap.h"

struct model_addrs {
	struct hmap cluster;       /* address key -> struct maddr_owner */
	struct hmap claimed;       /* address key -> struct maddr_claim */
	/* An allocation failed: some claims are not counted, so a cluster IP
	 * change must look at every service rather than trust `claimed`. */
	bool claims_incomplete;
};

void maddr_init(struct model_addrs *a);
void maddr_fini(struct model_addrs *a);

/* Service `key` ("ns/name") changes from old to new (either may be NULL).
 * Sets *changed to whether a cluster IP appeared or went that some service
 * claims (the caller then marks the claimants dirty: maddr_claims()).
 * Returns 0, or -ENOMEM when a cluster IP of new could not be indexed (the
 * index then still holds old's). */
int maddr_update(struct model_addrs *a, const char *key, const struct model_service *old,
		 const struct model_service *new, bool *changed);

/* Whether svc claims (as external or LB ingress IP) a cluster IP that
 * changed in the last maddr_update(old, new) of another service. */
bool maddr_claims(const struct model_service *svc, const struct model_service *old,
		  const struct model_service *new);

/* The "ns/name" of the service whose cluster IP ip is, or NULL. */
const char *maddr_cluster_owner(const struct model_addrs *a, const struct ip_addr *ip);

#endif
