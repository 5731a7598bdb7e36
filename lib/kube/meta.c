/* Object identity: metadata.namespace and metadata.name, validated with the
 * API server's own rules so that whatever reaches the model (and from there
 * chain names and rule comments) is a well-formed name. */
#include "lib/kube/field.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static bool kdec_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

/* [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most max characters. */
static bool kdec_label_valid(const char *s, size_t len, size_t max)
{
	if (!len || len > max || !kdec_alnum(s[0]) || !kdec_alnum(s[len - 1]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!kdec_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

bool kdec_name_valid(const char *s, enum kdec_name_rule rule)
{
	size_t len = strlen(s);
	const char *dot;

	switch (rule) {
	case KDEC_DNS_LABEL:
		return kdec_label_valid(s, len, 63);
	case KDEC_DNS_1035_LABEL:
		return kdec_label_valid(s, len, 63) && s[0] >= 'a' && s[0] <= 'z';
	case KDEC_DNS_SUBDOMAIN:
		if (!len || len > 253)
			return false;
		for (; (dot = strchr(s, '.')); s = dot + 1)
			if (!kdec_label_valid(s, (size_t)(dot - s), 253))
				return false;
		return kdec_label_valid(s, strlen(s), 253);
	}
	return false;
}

static const char *kdec_rule_name(enum kdec_name_rule rule)
{
	switch (rule) {
	case KDEC_DNS_LABEL:
		return "a DNS label (lower case letters, digits and '-', at most 63)";
	case KDEC_DNS_1035_LABEL:
		return "a DNS label starting with a letter (lower case letters, digits and '-', "
		       "at most 63)";
	case KDEC_DNS_SUBDOMAIN:
		return "a DNS subdomain (lower case letters, digits, '-' and '.', at most 253)";
	}
	return "valid";
}

int kdec_meta(struct kdec_ctx *c, const struct doc *obj, enum kdec_name_rule name_rule,
	      struct kdec_meta *out)
{
	struct kdec_meta m = { .ns = "default" };
	char val[96];
	int r;

	r = kdec_get_map(c, obj, "", "metadata", &m.metadata);
	if (r < 0)
		return r;
	if (r == 0)
		return kdec_fail(c, "metadata", "required field is missing");
	r = kdec_get_str(c, m.metadata, "metadata", "name", &m.name);
	if (r < 0)
		return r;
	if (r == 0 || !*m.name)
		return kdec_fail(c, "metadata.name", "required field is missing");
	if (!kdec_name_valid(m.name, name_rule))
		return kdec_fail(c, "metadata.name", "%s is not %s",
				 doc_describe(doc_get(m.metadata, "name"), val, sizeof(val)),
				 kdec_rule_name(name_rule));
	/* Manifests often leave the namespace out; kubectl applies them to
	 * "default" unless told otherwise, and so do we. */
	r = kdec_get_str(c, m.metadata, "metadata", "namespace", &m.ns);
	if (r < 0)
		return r;
	if (!*m.ns)
		m.ns = "default";
	if (!kdec_name_valid(m.ns, KDEC_DNS_LABEL)) {
		snprintf(c->who, sizeof(c->who), "%s %s", c->kind, m.name);
		return kdec_fail(c, "metadata.namespace", "%s is not %s",
				 doc_describe(doc_get(m.metadata, "namespace"), val, sizeof(val)),
				 kdec_rule_name(KDEC_DNS_LABEL));
	}
	snprintf(c->who, sizeof(c->who), "%s %s/%s", c->kind, m.ns, m.name);
	r = kdec_get_str(c, m.metadata, "metadata", "uid", &m.uid);
	if (r < 0)
		return r;
	r = kdec_get_str(c, m.metadata, "metadata", "resourceVersion", &m.resource_version);
	if (r < 0)
		return r;
	*out = m;
	return 0;
}

int kdec_begin(struct kdec_ctx *c, const char *kind, const struct doc *obj,
	       enum kdec_name_rule name_rule, char *err, size_t err_size, struct kdec_meta *out)
{
	kdec_ctx_init(c, kind, err, err_size);
	if (!obj || obj->type != DOC_MAP)
		return kdec_fail(c, "(object)", "got %s, expected a map",
				 obj ? doc_type_name(obj->type) : "nothing");
	return kdec_meta(c, obj, name_rule, out);
}
