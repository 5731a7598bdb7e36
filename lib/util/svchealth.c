/* The service health-check ports: one struct port_entry per port listed,
 * keyed by the port, holding the httpd that serves it (NULL while the port
 * cannot be opened) and what it answers. The entry is the handler's data;
 * it is freed only after httpd_close(), after which the handler is never
 * called, so a request can never see a freed entry. */
#include "lib/util/svchealth.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util/hmap.h"
#include "lib/util/httpd.h"
#include "lib/util/log.h"

struct port_entry {
	char key[8]; /* the port in decimal: the map's key */
	uint16_t port;
	struct svchealth *owner;
	struct httpd *srv; /* NULL: not open, retried on the next sync */
	char *ns, *name;   /* the service served (NULL until the first sync) */
	unsigned int endpoints;
	int last_err;		   /* the bind error last logged at error level */
	long claim;		   /* during a sync: the index of the service it serves */
	struct hmap conflicts;	   /* "ns/name" logged as conflicting (a strset) */
	struct hmap conflicts_now; /* the same, being built by this sync */
};

struct svchealth {
	uv_loop_t *loop;
	char *addr; /* NULL: every address */
	bool proxy_healthy;
	struct hmap ports;
	size_t open;
};

int svchealth_new(uv_loop_t *loop, struct svchealth **out)
{
	struct svchealth *h;

	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->loop = loop;
	h->proxy_healthy = true;
	hmap_init(&h->ports);
	*out = h;
	return 0;
}

int svchealth_set_address(struct svchealth *h, const char *addr)
{
	unsigned char buf[sizeof(struct in6_addr)];
	char *copy = NULL;

	if (addr && *addr) {
		if (inet_pton(strchr(addr, ':') ? AF_INET6 : AF_INET, addr, buf) != 1)
			return -EINVAL;
		copy = strdup(addr);
		if (!copy)
			return -ENOMEM;
	}
	free(h->addr);
	h->addr = copy;
	return 0;
}

void svchealth_set_proxy_healthy(struct svchealth *h, bool healthy)
{
	h->proxy_healthy = healthy;
}

size_t svchealth_port_count(const struct svchealth *h)
{
	return h->open;
}

/* s as a JSON string's contents (without the quotes). */
static char *json_escape(const char *s)
{
	size_t n = strlen(s);
	char *out = malloc(n * 6 + 1), *p = out;

	if (!out)
		return NULL;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		switch (*c) {
		case '"':
			*p++ = '\\';
			*p++ = '"';
			break;
		case '\\':
			*p++ = '\\';
			*p++ = '\\';
			break;
		case '\n':
			*p++ = '\\';
			*p++ = 'n';
			break;
		case '\r':
			*p++ = '\\';
			*p++ = 'r';
			break;
		case '\t':
			*p++ = '\\';
			*p++ = 't';
			break;
		default:
			if (*c < 0x20)
				p += sprintf(p, "\\u%04x", *c);
			else
				*p++ = (char)*c;
		}
	}
	*p = '\0';
	return out;
}

static int on_request(void *data, const struct httpd_request *req, struct httpd_response *resp)
{
	struct port_entry *e = data;
	bool healthy = e->owner->proxy_healthy;
	char *ns = json_escape(e->ns ? e->ns : ""), *name = json_escape(e->name ? e->name : "");
	char *body = NULL;
	int len, r = -ENOMEM;

	if (!ns || !name)
		goto out;
	/* kube-proxy's body, to the byte: tools compare it. */
	len = asprintf(&body,
		       "{\n"
		       "\t\"service\": {\n"
		       "\t\t\"namespace\": \"%s\",\n"
		       "\t\t\"name\": \"%s\"\n"
		       "\t},\n"
		       "\t\"localEndpoints\": %u,\n"
		       "\t\"serviceProxyHealthy\": %s\n"
		       "}",
		       ns, name, e->endpoints, healthy ? "true" : "false");
	if (len < 0) {
		body = NULL;
		goto out;
	}
	r = httpd_respond(resp, e->endpoints > 0 && healthy ? 200 : 503, "application/json", body,
			  (size_t)len);
	if (r >= 0)
		r = httpd_add_header(resp, "X-Content-Type-Options", "nosniff");
	log_v(6, "service %s/%s: health check %s %s on port %u: %u local endpoints", e->ns, e->name,
	      req->method, req->path, e->port, e->endpoints);
out:
	free(ns);
	free(name);
	free(body);
	return r;
}

static void strset_clear(struct hmap *m)
{
	size_t it = 0;
	void *v;

	while (hmap_next(m, &it, NULL, &v))
		free(v);
	hmap_fini(m);
	hmap_init(m);
}

static void entry_free(struct svchealth *h, struct port_entry *e)
{
	if (e->srv) {
		httpd_close(e->srv);
		h->open--;
	}
	strset_clear(&e->conflicts);
	strset_clear(&e->conflicts_now);
	free(e->ns);
	free(e->name);
	free(e);
}

static bool same_service(const char *ns, const char *name, const struct svchealth_service *s)
{
	return ns && name && strcmp(ns, s->ns) == 0 && strcmp(name, s->name) == 0;
}

static struct port_entry *entry_get(struct svchealth *h, uint16_t port)
{
	char key[8];

	snprintf(key, sizeof(key), "%u", port);
	return hmap_get(&h->ports, key);
}

static struct port_entry *entry_get_or_new(struct svchealth *h, uint16_t port)
{
	struct port_entry *e = entry_get(h, port);

	if (e)
		return e;
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	snprintf(e->key, sizeof(e->key), "%u", port);
	e->port = port;
	e->owner = h;
	e->claim = -1;
	hmap_init(&e->conflicts);
	hmap_init(&e->conflicts_now);
	if (hmap_put(&h->ports, e->key, e, NULL) < 0) {
		free(e);
		return NULL;
	}
	return e;
}

/* svcs[i] lists a port that another service keeps. */
static int note_conflict(struct port_entry *e, const struct svchealth_service *loser,
			 const struct svchealth_service *winner)
{
	char *key;
	int r;

	if (asprintf(&key, "%s/%s", loser->ns, loser->name) < 0)
		return -ENOMEM;
	if (!hmap_get(&e->conflicts, key))
		log_error("service %s/%s: healthCheckNodePort %u is already served for service "
			  "%s/%s; not serving it for %s/%s",
			  loser->ns, loser->name, e->port, winner->ns, winner->name, loser->ns,
			  loser->name);
	r = hmap_strset_add(&e->conflicts_now, key);
	free(key);
	return r;
}

/* Points e at svcs[e->claim] and opens its port if it is not open. Returns
 * 1 if the port could not be opened, 0, or -ENOMEM. */
static int entry_apply(struct svchealth *h, struct port_entry *e, const struct svchealth_service *s)
{
	int r;

	if (!same_service(e->ns, e->name, s)) {
		char *ns = strdup(s->ns), *name = strdup(s->name);

		if (!ns || !name) {
			free(ns);
			free(name);
			return -ENOMEM;
		}
		if (e->srv)
			log_v(2, "health check port %u: now serving service %s/%s (was %s/%s)",
			      e->port, ns, name, e->ns, e->name);
		free(e->ns);
		free(e->name);
		e->ns = ns;
		e->name = name;
		e->last_err = 0;
	}
	if (e->endpoints != s->local_endpoints)
		log_v(4, "service %s/%s: health check port %u: %u local endpoints", e->ns, e->name,
		      e->port, s->local_endpoints);
	e->endpoints = s->local_endpoints;
	if (e->srv)
		return 0;

	r = httpd_new(h->loop, h->addr, e->port, on_request, e, &e->srv);
	if (r < 0) {
		e->srv = NULL;
		/* Retried on every sync: say it loudly once per kind of failure. */
		if (r != e->last_err)
			log_error_errno(r,
					"service %s/%s: cannot listen on healthCheckNodePort %u; "
					"retrying on the next sync",
					e->ns, e->name, e->port);
		else
			log_v(2, "service %s/%s: healthCheckNodePort %u still cannot be opened: %s",
			      e->ns, e->name, e->port, strerror(-r));
		e->last_err = r;
		return r == -ENOMEM ? r : 1;
	}
	if (e->last_err)
		log_info("service %s/%s: healthCheckNodePort %u is open now", e->ns, e->name,
			 e->port);
	else
		log_v(2, "service %s/%s: opened healthCheckNodePort %u", e->ns, e->name, e->port);
	e->last_err = 0;
	h->open++;
	return 0;
}

int svchealth_sync(struct svchealth *h, const struct svchealth_service *svcs, size_t n)
{
	struct port_entry *e, **gone = NULL;
	size_t it, ngone = 0;
	int failed = 0, r = 0, q;
	void *v;

	it = 0;
	while (hmap_next(&h->ports, &it, NULL, &v))
		((struct port_entry *)v)->claim = -1;

	/* Who serves each port: the service that had it, else the first listed. */
	for (size_t i = 0; i < n; i++) {
		if (!svcs[i].health_check_node_port)
			continue;
		e = entry_get_or_new(h, svcs[i].health_check_node_port);
		if (!e) {
			r = -ENOMEM;
			continue;
		}
		if (e->claim < 0 && same_service(e->ns, e->name, &svcs[i]))
			e->claim = (long)i;
	}
	for (size_t i = 0; i < n; i++) {
		if (!svcs[i].health_check_node_port)
			continue;
		e = entry_get(h, svcs[i].health_check_node_port);
		if (e && e->claim < 0)
			e->claim = (long)i;
	}
	for (size_t i = 0; i < n; i++) {
		const struct svchealth_service *winner;

		if (!svcs[i].health_check_node_port)
			continue;
		e = entry_get(h, svcs[i].health_check_node_port);
		if (!e || e->claim == (long)i)
			continue;
		winner = &svcs[e->claim];
		if (same_service(winner->ns, winner->name, &svcs[i]))
			continue; /* listed twice: not a conflict */
		if (note_conflict(e, &svcs[i], winner) < 0)
			r = -ENOMEM;
	}

	gone = calloc(h->ports.len ? h->ports.len : 1, sizeof(*gone));
	if (!gone)
		r = -ENOMEM;
	it = 0;
	while (hmap_next(&h->ports, &it, NULL, &v)) {
		e = v;
		/* What was logged and is no longer true may be logged again. */
		strset_clear(&e->conflicts);
		e->conflicts = e->conflicts_now;
		hmap_init(&e->conflicts_now);
		if (e->claim < 0) {
			if (gone)
				gone[ngone++] = e;
			continue;
		}
		q = entry_apply(h, e, &svcs[e->claim]);
		if (q < 0)
			r = q;
		else
			failed += q;
	}
	for (size_t i = 0; i < ngone; i++) {
		e = gone[i];
		if (e->srv)
			log_v(2, "service %s/%s: closing healthCheckNodePort %u", e->ns, e->name,
			      e->port);
		hmap_del(&h->ports, e->key);
		entry_free(h, e);
	}
	free(gone);
	return r < 0 ? r : failed;
}

void svchealth_close(struct svchealth *h)
{
	size_t it = 0;
	void *v;

	if (!h)
		return;
	while (hmap_next(&h->ports, &it, NULL, &v))
		entry_free(h, v);
	hmap_fini(&h->ports);
	free(h->addr);
	free(h);
}
