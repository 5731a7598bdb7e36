/* A KubeProxyConfiguration of any bytes (YAML, or JSON when it starts with
 * '{') through kpc_load_buffer and kpc_finish, as `nftproxy --config`
 * reads it.
 *
 * Checked: the returns and messages kpconfig.h promises (-EINVAL for
 * content, -EBADMSG for syntax, each message naming the origin); strings
 * never NULL; and for a configuration that loads and finishes, the round
 * trip kpconfig.h promises for --write-config-to: the YAML written reads
 * back and finishes, and writes the same YAML again. /configz's JSON of
 * the same walk parses, and is the same for both. */
#include "lib/config/internal.h"
#include "lib/config/kpconfig.h"
#include "lib/kube/doc_json.h"
#include "tests/fuzz/fuzz.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ORIGIN "fuzz.yaml"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

static void check_strings(const struct kpc_config *c)
{
	for (int f = 0; f < KF_COUNT; f++)
		if (kpc_fields[f].type == KT_STR)
			FUZZ_CHECK(*(char *const *)((const char *)c + kpc_fields[f].off),
				   "field %s is NULL", kpc_fields[f].path ? kpc_fields[f].path : "?");
	for (size_t i = 0; i < c->notes.n; i++)
		FUZZ_CHECK(c->notes.v[i] && *c->notes.v[i], "note %zu", i);
	for (size_t i = 1; i < c->feature_gates.n; i++)
		FUZZ_CHECK(strcmp(c->feature_gates.v[i - 1].name, c->feature_gates.v[i].name) < 0,
			   "feature gates not sorted and unique at %zu", i);
}

static void check_error(int r, const char *err, const char *origin)
{
	FUZZ_CHECK(r == -EINVAL || r == -EBADMSG || r == -ENOMEM, "returns %d: %s", r, err);
	FUZZ_CHECK(strnlen(err, KPC_ERR_MAX) < KPC_ERR_MAX && *err, "no message");
	if (r != -ENOMEM)
		FUZZ_CHECK(strncmp(err, origin, strlen(origin)) == 0 ||
				   strstr(err, origin) != NULL,
			   "message does not name %s: \"%s\"", origin, err);
}

static char *write_yaml(const struct kpc_config *c, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	FUZZ_CHECK(f, "open_memstream");
	FUZZ_CHECK(kpc_write_yaml(c, f) == 0, "kpc_write_yaml");
	FUZZ_CHECK(fclose(f) == 0, "fclose");
	return text;
}

static int one_doc(struct doc *root, void *data)
{
	size_t *n = data;

	FUZZ_CHECK(root->type == DOC_MAP && doc_get(root, "kubeproxy.config.k8s.io"),
		   "configz is not {\"kubeproxy.config.k8s.io\": ...}");
	(*n)++;
	doc_free(root);
	return 0;
}

static char *configz(const struct kpc_config *c)
{
	char *json = NULL, msg[256] = "";
	size_t n = 0;

	FUZZ_CHECK(kpc_configz_json(c, NULL, &json) == 0, "kpc_configz_json");
	FUZZ_CHECK(doc_json_parse(json, strlen(json), one_doc, &n, msg, sizeof(msg)) == 0 && n == 1,
		   "configz does not parse: %s: %s", msg, json);
	return json;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kpc_config c, back;
	char err[KPC_ERR_MAX], *yaml, *yaml2, *json, *json2;
	size_t len, len2;
	int r;

	FUZZ_CHECK(kpc_init(&c) == 0, "kpc_init");
	r = kpc_load_buffer(&c, (const char *)data, size, ORIGIN, err, sizeof(err));
	check_strings(&c);
	if (r < 0) {
		check_error(r, err, ORIGIN);
		kpc_free(&c);
		return 0;
	}
	FUZZ_CHECK(r == 0, "kpc_load_buffer returns %d", r);
	r = kpc_finish(&c, err, sizeof(err));
	check_strings(&c);
	if (r < 0) {
		FUZZ_CHECK(r == -EINVAL || r == -ENOMEM, "kpc_finish returns %d: %s", r, err);
		FUZZ_CHECK(*err, "kpc_finish failed without a message");
		kpc_free(&c);
		return 0;
	}
	FUZZ_CHECK(r == 0, "kpc_finish returns %d", r);
	FUZZ_CHECK(strcmp(c.mode, "nftables") == 0, "mode \"%s\" after kpc_finish", c.mode);

	yaml = write_yaml(&c, &len);
	json = configz(&c);
	FUZZ_CHECK(kpc_init(&back) == 0, "kpc_init");
	r = kpc_load_buffer(&back, yaml, len, "written", err, sizeof(err));
	FUZZ_CHECK(r == 0, "what kpc_write_yaml wrote does not load: %s\n%s", err, yaml);
	r = kpc_finish(&back, err, sizeof(err));
	FUZZ_CHECK(r == 0, "what kpc_write_yaml wrote does not finish: %s\n%s", err, yaml);
	yaml2 = write_yaml(&back, &len2);
	FUZZ_CHECK(len == len2 && memcmp(yaml, yaml2, len) == 0,
		   "the round trip changed the configuration:\n%s\n---- read back and written:\n%s",
		   yaml, yaml2);
	json2 = configz(&back);
	FUZZ_CHECK(strcmp(json, json2) == 0, "configz changed over the round trip:\n%s\n%s", json,
		   json2);
	free(yaml);
	free(yaml2);
	free(json);
	free(json2);
	kpc_free(&back);
	kpc_free(&c);
	return 0;
}
