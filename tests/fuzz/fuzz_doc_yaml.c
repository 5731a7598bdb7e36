/* The YAML front end: any bytes must give documents or one error with a
 * position, never a crash, a leak or a message that overruns its buffer.
 * The callback fails on document (size % 4) (0: never), so that the
 * stop-in-the-middle path is covered by the same inputs. */
#include "lib/kube/doc_yaml.h"
#include "tests/fuzz/fuzz.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct run {
	size_t docs;
	size_t fail_at;
};

static int on_doc(struct doc *root, void *data)
{
	struct run *run = data;

	fuzz_doc_walk(root, FUZZ_HASH_INIT);
	doc_free(root);
	run->docs++;
	return run->docs == run->fail_at ? -ECANCELED : 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Smaller than KDEC_ERR_MAX on purpose: messages must be cut, not overrun. */
	const size_t err_size = 64;
	struct run run = { .fail_at = size % 4 };
	char *err = malloc(err_size);
	int r;

	FUZZ_CHECK(err != NULL, "out of memory");
	r = doc_yaml_parse(data, size, on_doc, &run, err, err_size);
	FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -E2BIG || r == -ECANCELED, "returned %d", r);
	FUZZ_CHECK(strnlen(err, err_size) < err_size, "message not terminated");
	if (r == -EBADMSG || r == -E2BIG)
		FUZZ_CHECK(strncmp(err, "line ", 5) == 0, "%d with message \"%s\"", r, err);
	else
		FUZZ_CHECK(err[0] == '\0', "%d with message \"%s\"", r, err);
	free(err);
	return 0;
}
