/* The incremental JSON parser, fed in chunks whose sizes the input chooses,
 * checked against the same text fed in one piece: a watch stream is cut
 * wherever the network cuts it, and that must change nothing.
 *
 * Input: one flag byte, then (flags & 7) chunk sizes of one byte each (0
 * feeds an empty chunk; they repeat until the text is used up), then the
 * JSON text.
 *   flags & 0x08  free the parser without doc_json_finish (a watch that
 *                 is cancelled mid-object)
 *   flags & 0x30  the callback fails on document 1, 2 or 3 (0: never)
 * Each document, and the "object" of a watch event, also goes through
 * kdec_object_from_doc. */
#include "lib/kube/decode.h"
#include "lib/kube/doc_json.h"
#include "tests/fuzz/fuzz.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* After a number, yajl places an error one byte later when the byte that
 * ends the number comes in the next chunk (crashes/doc_json/README.md), so
 * by default only the text after "line L column C: " must agree and the
 * fuzzer goes on looking for worse; FUZZ_JSON_EXACT_POSITION=1 in the
 * environment compares the whole message. */
static bool exact_position;

struct run {
	bool decode; /* also decode each document as an object */
	uint64_t hash;
	size_t docs;
	size_t fail_at; /* 1-based document whose callback fails; 0: none */
	int rc;
	char msg[256];
};

/* kdec_object_from_doc, as a watch would call it on an event's object. */
static void decode(const struct doc *obj)
{
	char err[KDEC_ERR_MAX];
	struct kdec_object o;
	int r;

	r = kdec_object_from_doc(obj, &o, err, sizeof(err));
	FUZZ_CHECK(r == 1 || r == 0 || r == -EINVAL, "kdec_object_from_doc: %d", r);
	if (r == -EINVAL)
		FUZZ_CHECK(err[0] && strnlen(err, sizeof(err)) < sizeof(err), "message");
	if (r != 1)
		return;
	FUZZ_CHECK(o.desc && (o.kind == KDEC_SERVICE ? o.svc && !o.slice : o.slice && !o.svc),
		   "object of kind %d", (int)o.kind);
	if (o.svc)
		fuzz_check_service(o.svc);
	else
		fuzz_check_slice(o.slice);
	kdec_object_fini(&o);
}

static int on_doc(struct doc *root, void *data)
{
	struct run *run = data;
	const struct doc *obj;

	if (run->decode) {
		/* A bare object, or a watch event {"type": ..., "object": {...}}. */
		decode(root);
		if (doc_get_map(root, "object", &obj) == 0)
			decode(obj);
	}
	run->hash = fuzz_doc_walk(root, run->hash);
	doc_free(root);
	run->docs++;
	return run->docs == run->fail_at ? -ECANCELED : 0;
}

static void parse(const uint8_t *text, size_t len, const uint8_t *sizes, size_t n_sizes,
		  bool finish, struct run *run)
{
	struct doc_json *p;
	size_t off = 0;
	int r;

	run->hash = FUZZ_HASH_INIT;
	r = doc_json_new(on_doc, run, &p);
	FUZZ_CHECK(r == 0, "doc_json_new: %d", r);
	for (size_t i = 0; r == 0 && off < len; i++) {
		size_t n = n_sizes ? sizes[i % n_sizes] : len;

		if (n > len - off)
			n = len - off;
		r = doc_json_feed(p, text + off, n);
		off += n;
	}
	if (r == 0 && finish)
		r = doc_json_finish(p);
	FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -E2BIG || r == -ECANCELED, "returned %d", r);
	FUZZ_CHECK(doc_json_count(p) == run->docs, "count %zu, %zu documents", doc_json_count(p),
		   run->docs);
	if (r == -EBADMSG || r == -E2BIG) {
		snprintf(run->msg, sizeof(run->msg), "%s", doc_json_error(p));
		FUZZ_CHECK(run->msg[0], "error %d without a message", r);
	}
	if (r < 0) {
		/* "After an error the parser is spent." */
		FUZZ_CHECK(doc_json_feed(p, "{}", 2) == -EINVAL, "fed after an error");
		FUZZ_CHECK(doc_json_finish(p) == -EINVAL, "finished after an error");
	}
	run->rc = r;
	doc_json_free(p);
}

/* The message without its "line L column C: " prefix. */
static const char *problem(const char *msg)
{
	const char *p = strstr(msg, ": ");

	return p ? p + 2 : msg;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *e = getenv("FUZZ_JSON_EXACT_POSITION");

	exact_position = e && strcmp(e, "1") == 0;
	fuzz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole = { 0 }, cut = { 0 };
	size_t n_sizes, nonzero = 0;
	bool finish;

	if (size < 1)
		return 0;
	n_sizes = data[0] & 7;
	finish = !(data[0] & 0x08);
	whole.fail_at = cut.fail_at = (data[0] >> 4) & 3;
	/* Once is enough: the documents are the same. */
	whole.decode = true;
	if (size < 1 + n_sizes)
		return 0;
	for (size_t i = 0; i < n_sizes; i++)
		nonzero += data[1 + i] != 0;
	/* Only empty chunks would never end: feed in one piece instead. */
	if (!nonzero)
		n_sizes = 0;

	parse(data + 1 + (data[0] & 7), size - 1 - (data[0] & 7), NULL, 0, finish, &whole);
	parse(data + 1 + (data[0] & 7), size - 1 - (data[0] & 7), data + 1, n_sizes, finish, &cut);
	FUZZ_CHECK(whole.rc == cut.rc, "whole %d, in chunks %d", whole.rc, cut.rc);
	FUZZ_CHECK(whole.docs == cut.docs, "whole %zu documents, in chunks %zu", whole.docs,
		   cut.docs);
	FUZZ_CHECK(whole.hash == cut.hash, "the documents differ when fed in chunks");
	FUZZ_CHECK(strcmp(exact_position ? whole.msg : problem(whole.msg),
			  exact_position ? cut.msg : problem(cut.msg)) == 0,
		   "message whole \"%s\", in chunks \"%s\"", whole.msg, cut.msg);
	return 0;
}
