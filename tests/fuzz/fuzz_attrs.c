/*
 * fuzz_attrs.c - the attribute-string parser, nb_attrs_parse, on every
 * registered op.  An accepted string must format (nb_attrs_format, every
 * attribute) to a string that parses again to the same text: what nabla
 * prints for an op (nabla ops, gradcheck reports, DOT labels) can be fed
 * back to it.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_Alignas(max_align_t) unsigned char buf[512], again[512];
	char out[1024], out2[1024];
	char *s = fz_string(data, size);
	if (!s)
		return 0;
	fz_init_alloc();
	for (size_t i = 0; i < nb_op_count(); i++) {
		const nb_op *op = nb_op_at(i);
		if (op->attrs_size > sizeof buf || nb_attrs_parse(op, s, buf))
			continue;
		nb_attrs_format(op, buf, true, out, sizeof out);
		if (nb_attrs_parse(op, out, again)) {
			fprintf(stderr, "%s: '%s' formats as '%s', which does not "
			        "parse: %s\n", op->name, s, out, nb_last_error());
			abort();
		}
		nb_attrs_format(op, again, true, out2, sizeof out2);
		if (strcmp(out, out2)) {
			fprintf(stderr, "%s: '%s' formats as '%s', then as '%s'\n",
			        op->name, s, out, out2);
			abort();
		}
	}
	free(s);
	return 0;
}
