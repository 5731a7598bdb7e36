/* kdec_parse_buffer on any bytes (JSON or YAML, one or many objects): no
 * crash or leak, the result honours decode.h and types.h, and decoding the
 * same bytes twice gives objects model_*_equal() calls equal — the model
 * relies on that to leave unchanged objects clean. */
#include "lib/kube/decode.h"
#include "tests/fuzz/fuzz.h"

#include <errno.h>
#include <string.h>

static void check_result(const struct kdec_result *res)
{
	for (size_t i = 0; i < res->n_objects; i++) {
		const struct kdec_object *o = &res->objects[i];

		FUZZ_CHECK(o->desc != NULL, "object %zu without desc", i);
		if (o->kind == KDEC_SERVICE) {
			FUZZ_CHECK(o->svc && !o->slice, "service object %zu", i);
			fuzz_check_service(o->svc);
		} else {
			FUZZ_CHECK(o->kind == KDEC_SLICE && o->slice && !o->svc, "object %zu", i);
			fuzz_check_slice(o->slice);
		}
	}
	for (size_t i = 0; i < res->n_rejected; i++) {
		const struct kdec_rejected *rej = &res->rejected[i];

		FUZZ_CHECK(rej->error && rej->error[0], "rejected %zu without a message", i);
		FUZZ_CHECK(!rej->ns == !rej->name, "rejected %zu: half a name", i);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct kdec_result zero;
	struct kdec_result a = { 0 }, b = { 0 };
	char err[KDEC_ERR_MAX];
	int r;

	r = kdec_parse_buffer((const char *)data, size, "fuzz", &a, err, sizeof(err));
	FUZZ_CHECK(r == 0 || r == -EBADMSG, "returned %d", r);
	FUZZ_CHECK(strnlen(err, sizeof(err)) < sizeof(err), "message not terminated");
	if (r < 0) {
		FUZZ_CHECK(strncmp(err, "line ", 5) == 0, "message \"%s\"", err);
		FUZZ_CHECK(memcmp(&a, &zero, sizeof(a)) == 0, "result written on error");
		return 0;
	}
	check_result(&a);

	r = kdec_parse_buffer((const char *)data, size, "fuzz", &b, err, sizeof(err));
	FUZZ_CHECK(r == 0, "second parse returned %d", r);
	FUZZ_CHECK(a.n_objects == b.n_objects && a.n_rejected == b.n_rejected &&
			   a.n_ignored == b.n_ignored,
		   "second parse counts differ");
	for (size_t i = 0; i < a.n_objects; i++) {
		const struct kdec_object *x = &a.objects[i], *y = &b.objects[i];

		FUZZ_CHECK(strcmp(x->desc, y->desc) == 0, "desc \"%s\" vs \"%s\"", x->desc,
			   y->desc);
		if (x->kind == KDEC_SERVICE)
			FUZZ_CHECK(model_service_equal(x->svc, y->svc), "%s unequal to itself",
				   x->desc);
		else
			FUZZ_CHECK(model_slice_equal(x->slice, y->slice), "%s unequal to itself",
				   x->desc);
	}
	kdec_result_fini(&a);
	kdec_result_fini(&b);
	return 0;
}
