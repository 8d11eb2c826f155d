/*
 * cmd_ops.c - `nabla ops`: list every registered op.
 */
#include <getopt.h>
#include <math.h>
#include <string.h>
#include "cli.h"

static const char *type_name(nb_attr_type t)
{
	switch (t) {
	case NB_ATTR_INT: return "int";
	case NB_ATTR_FLOAT: return "float";
	case NB_ATTR_BOOL: return "bool";
	case NB_ATTR_INTS: return "ints";
	case NB_ATTR_ENUM: return "enum";
	}
	return "?";
}

/* The default as text; for JSON, quoted where it is a string. */
static void print_default(FILE *f, const nb_attr_def *d, bool json)
{
	switch (d->type) {
	case NB_ATTR_INT: fprintf(f, "%lld", (long long)d->def); break;
	case NB_ATTR_FLOAT:
		if (isnan(d->def))
			fputs(json ? "null" : "none", f);
		else
			fprintf(f, "%.9g", d->def);
		break;
	case NB_ATTR_BOOL: fputs(d->def ? "true" : "false", f); break;
	case NB_ATTR_INTS: fputs(json ? "null" : "(none)", f); break;
	case NB_ATTR_ENUM: {
		const char *s = d->choices;
		for (int i = 0; i < (int)d->def && s; i++) {
			s = strchr(s, '|');
			s = s ? s + 1 : NULL;
		}
		char buf[64];
		snprintf(buf, sizeof buf, "%.*s", s ? (int)strcspn(s, "|") : 0,
		         s ? s : "");
		if (json)
			cli_json_str(f, buf);
		else
			fputs(buf, f);
		break;
	}
	}
}

static void print_inputs_json(FILE *f, const nb_op *op)
{
	const char *s = op->input_names ? op->input_names : "";
	fputc('[', f);
	for (int i = 0; i < op->n_inputs; i++) {
		char nm[64];
		size_t len = strcspn(s, ",");
		snprintf(nm, sizeof nm, "%.*s", (int)len, s);
		if (i)
			fputs(", ", f);
		cli_json_str(f, nm);
		s += len;
		if (*s == ',')
			s++;
	}
	fputc(']', f);
}

static void list_json(void)
{
	size_t n = nb_op_count();
	printf("{\"ops\": [");
	for (size_t i = 0; i < n; i++) {
		const nb_op *op = nb_op_at(i);
		printf("%s\n  {\"name\": ", i ? "," : "");
		cli_json_str(stdout, op->name);
		printf(", \"kind\": \"%s\", \"inputs\": ",
		       nb_op_kind_name(op->kind));
		print_inputs_json(stdout, op);
		printf(", \"attrs\": [");
		for (int k = 0; k < op->n_attrs; k++) {
			const nb_attr_def *d = &op->attrs[k];
			printf("%s{\"name\": ", k ? ", " : "");
			cli_json_str(stdout, d->name);
			printf(", \"type\": \"%s\", \"default\": ", type_name(d->type));
			print_default(stdout, d, true);
			if (d->type == NB_ATTR_ENUM) {
				printf(", \"choices\": ");
				cli_json_str(stdout, d->choices);
			}
			printf("}");
		}
		printf("], \"random\": %s, \"doc\": ",
		       op->flags & NB_OP_RANDOM ? "true" : "false");
		cli_json_str(stdout, op->doc ? op->doc : "");
		printf("}");
	}
	printf("\n]}\n");
}

static void list_text(void)
{
	size_t n = nb_op_count();
	printf("%-16s %-14s %-22s %s\n", "OP", "KIND", "INPUTS", "ATTRIBUTES");
	for (size_t i = 0; i < n; i++) {
		const nb_op *op = nb_op_at(i);
		printf("%-16s %-14s %-22s ", op->name, nb_op_kind_name(op->kind),
		       op->input_names ? op->input_names : "-");
		if (!op->n_attrs)
			printf("-");
		for (int k = 0; k < op->n_attrs; k++) {
			printf("%s%s=", k ? " " : "", op->attrs[k].name);
			print_default(stdout, &op->attrs[k], false);
		}
		printf("%s\n", op->flags & NB_OP_RANDOM ? "  [random]" : "");
	}
	printf("%zu ops\n", n);
}

int cmd_ops(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool json = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j': json = true; break;
		case 'h':
			printf("Usage: nabla ops [--json]\n"
			       "List every registered op with its kind, inputs and "
			       "attributes (defaults).\n");
			return CLI_OK;
		default:
			return cli_usage_error("ops", "unknown option '%s'",
			                       argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("ops", "unexpected argument '%s'",
		                       argv[optind]);
	if (!nb_op_count()) {
		fprintf(stderr, "nabla ops: %s\n", nb_last_error());
		return CLI_FAIL;
	}
	if (json)
		list_json();
	else
		list_text();
	return CLI_OK;
}
