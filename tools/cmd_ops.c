/*
 * cmd_ops.c - `nabla ops`: list every registered op, or describe the
 * named ones (attributes with types, defaults, ranges and docs).
 */
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
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
	case NB_ATTR_INTS: fputs(json ? "null" : "unset", f); break;
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

static const char *role_name(nb_role r)
{
	switch (r) {
	case NB_ROLE_DATA: return "data";
	case NB_ROLE_PARAM: return "parameter";
	case NB_ROLE_BUFFER: return "buffer";
	}
	return "?";
}

/* "input,weight,bias"; a variadic last input as "tensors...". */
static const char *input_list(const nb_op *op, char *buf, size_t n)
{
	size_t k = 0;
	buf[0] = '\0';
	for (int i = 0; i < op->n_inputs && k < n; i++)
		k += (size_t)snprintf(buf + k, n - k, "%s%s%s", i ? "," : "",
		                      op->inputs[i].name,
		                      op->inputs[i].flags & NB_IN_VARIADIC
		                      ? "..." : "");
	return op->n_inputs ? buf : "-";
}

static void print_inputs_json(FILE *f, const nb_op *op)
{
	fputc('[', f);
	for (int i = 0; i < op->n_inputs; i++) {
		if (i)
			fputs(", ", f);
		cli_json_str(f, op->inputs[i].name);
	}
	fputc(']', f);
}

/* The dtypes an input takes, as `nabla ops NAME --json` names them. */
static const char *input_dtype(unsigned flags)
{
	return flags & NB_IN_INT64 ? "int64"
	     : flags & NB_IN_BOOL ? "bool"
	     : flags & NB_IN_ANY_FLOAT ? "float32|float64"
	     : flags & NB_IN_ANY_DTYPE ? "the op's: float32|float64|int64|bool"
	     : "the op's";
}

/* Each input's role and flags, for `nabla ops NAME --json`. */
static void print_input_defs_json(FILE *f, const nb_op *op)
{
	fputc('[', f);
	for (int i = 0; i < op->n_inputs; i++) {
		const nb_input_def *d = &op->inputs[i];
		fprintf(f, "%s{\"name\": ", i ? ", " : "");
		cli_json_str(f, d->name);
		fprintf(f, ", \"role\": \"%s\", \"optional\": %s, "
		        "\"differentiable\": %s, \"dtype\": \"%s\", "
		        "\"variadic\": %s", role_name(d->role),
		        d->flags & NB_IN_OPTIONAL ? "true" : "false",
		        d->flags & (NB_IN_NONDIFF | NB_IN_INT64 | NB_IN_BOOL) ||
		        (op->flags & NB_OP_NO_GRAD) ? "false" : "true",
		        input_dtype(d->flags),
		        d->flags & NB_IN_VARIADIC ? "true" : "false");
		if (d->role != NB_ROLE_DATA && d->fill == NB_FILL_CONST)
			fprintf(f, ", \"layer_fill\": %.9g", d->value);
		fputc('}', f);
	}
	fputc(']', f);
}

static bool has_min(const nb_attr_def *d)
{
	return (d->type == NB_ATTR_INT || d->type == NB_ATTR_FLOAT) &&
	       (d->range.bounds & NB_RANGE_MIN);
}

static bool has_max(const nb_attr_def *d)
{
	return (d->type == NB_ATTR_INT || d->type == NB_ATTR_FLOAT) &&
	       (d->range.bounds & NB_RANGE_MAX);
}

static void print_op_json(FILE *f, const nb_op *op, bool detail)
{
	fprintf(f, "{\"name\": ");
	cli_json_str(f, op->name);
	fprintf(f, ", \"kind\": \"%s\", \"inputs\": ",
	        nb_op_kind_name(op->kind));
	print_inputs_json(f, op);
	fprintf(f, ", \"attrs\": [");
	for (int k = 0; k < op->n_attrs; k++) {
		const nb_attr_def *d = &op->attrs[k];
		fprintf(f, "%s{\"name\": ", k ? ", " : "");
		cli_json_str(f, d->name);
		fprintf(f, ", \"type\": \"%s\", \"default\": ",
		        type_name(d->type));
		print_default(f, d, true);
		if (d->type == NB_ATTR_ENUM) {
			fprintf(f, ", \"choices\": ");
			cli_json_str(f, d->choices);
		}
		if (detail) {
			if (has_min(d))
				fprintf(f, ", \"min\": %.17g", d->range.min);
			if (has_max(d))
				fprintf(f, ", \"max\": %.17g", d->range.max);
			fprintf(f, ", \"doc\": ");
			cli_json_str(f, d->doc ? d->doc : "");
		}
		fprintf(f, "}");
	}
	fprintf(f, "], \"random\": %s, \"doc\": ",
	        op->flags & NB_OP_RANDOM ? "true" : "false");
	cli_json_str(f, op->doc ? op->doc : "");
	if (detail) {
		fprintf(f, ", \"optional\": [");
		for (int i = 0, n = 0; i < op->n_inputs; i++) {
			if (!(op->inputs[i].flags & NB_IN_OPTIONAL))
				continue;
			fputs(n++ ? ", " : "", f);
			cli_json_str(f, op->inputs[i].name);
		}
		fprintf(f, "], \"input_defs\": ");
		print_input_defs_json(f, op);
		fprintf(f, ", \"results\": %d, \"layer\": %s",
		        op->n_outputs > 1 ? op->n_outputs : 1,
		        op->flags & NB_OP_LAYER ? "true" : "false");
		fprintf(f, ", \"differentiable\": %s, "
		        "\"grad_modifying\": %s, \"cases\": ",
		        op->flags & NB_OP_NO_GRAD || !op->backward ? "false"
		                                                   : "true",
		        op->flags & NB_OP_GRAD_MODIFYING ? "true" : "false");
		cli_json_str(f, op->test && op->test->cases ? op->test->cases
		                                            : "");
	}
	fprintf(f, "}");
}

static void list_json(const nb_op *const *ops, size_t n, bool detail)
{
	printf("{\"ops\": [");
	for (size_t i = 0; i < n; i++) {
		printf("%s\n  ", i ? "," : "");
		print_op_json(stdout, ops[i], detail);
	}
	printf("\n]}\n");
}

static void list_text(void)
{
	size_t n = nb_op_count();
	printf("%-16s %-14s %-22s %s\n", "OP", "KIND", "INPUTS", "ATTRIBUTES");
	for (size_t i = 0; i < n; i++) {
		const nb_op *op = nb_op_at(i);
		char ins[256];
		printf("%-16s %-14s %-22s ", op->name, nb_op_kind_name(op->kind),
		       input_list(op, ins, sizeof ins));
		if (!op->n_attrs)
			printf("-");
		for (int k = 0; k < op->n_attrs; k++) {
			/* a list without a fixed default: its doc says what
			 * unset means (all axes, stride 1...) */
			printf("%s%s", k ? " " : "", op->attrs[k].name);
			if (op->attrs[k].type != NB_ATTR_INTS) {
				putchar('=');
				print_default(stdout, &op->attrs[k], false);
			}
		}
		printf("%s\n", op->flags & NB_OP_RANDOM ? "  [random]" : "");
	}
	printf("%zu ops (nabla ops NAME describes one)\n", n);
}

/* Everything about one op, for `nabla ops NAME`. */
static void describe(const nb_op *op)
{
	printf("%s (%s): %s\n", op->name, nb_op_kind_name(op->kind),
	       op->doc ? op->doc : "");
	printf("  inputs:");
	for (int i = 0; i < op->n_inputs; i++) {
		const nb_input_def *d = &op->inputs[i];
		printf("%s %s%s%s%s", i ? "," : "", d->name,
		       d->flags & NB_IN_VARIADIC ? "..." : "",
		       d->role == NB_ROLE_PARAM ? " (parameter"
		       : d->role == NB_ROLE_BUFFER ? " (buffer" : "",
		       d->flags & NB_IN_OPTIONAL
		       ? (d->role == NB_ROLE_DATA ? " (optional)" : ", optional)")
		       : (d->role == NB_ROLE_DATA ? "" : ")"));
	}
	printf("%s\n", op->n_inputs ? "" : " none");
	if (op->n_outputs > 1)
		printf("  results: %d\n", op->n_outputs);
	if (op->flags & NB_OP_LAYER)
		printf("  layer: yes (the spec language takes it)\n");
	if (op->n_attrs)
		printf("  attributes:\n");
	for (int k = 0; k < op->n_attrs; k++) {
		const nb_attr_def *d = &op->attrs[k];
		printf("    %-18s %-5s ", d->name, type_name(d->type));
		if (d->type == NB_ATTR_INTS) {
			printf("unset by default");
		} else {
			printf("default ");
			print_default(stdout, d, false);
		}
		if (has_min(d) && has_max(d) && d->type == NB_ATTR_INT)
			printf(", in [%lld, %lld]", (long long)d->range.min,
			       (long long)d->range.max);
		else if (has_min(d) && has_max(d))
			printf(", in [%.9g, %.9g]", d->range.min, d->range.max);
		else if (has_min(d))
			printf(", at least %.9g", d->range.min);
		else if (has_max(d))
			printf(", at most %.9g", d->range.max);
		if (d->type == NB_ATTR_ENUM)
			printf(", one of %s", d->choices);
		printf("\n");
		if (d->doc && *d->doc)
			printf("      %s\n", d->doc);
	}
	printf("  gradient: %s\n", op->flags & NB_OP_NO_GRAD || !op->backward
	       ? "none" : op->flags & NB_OP_GRAD_MODIFYING
	       ? "a rule (gradient-modifying), checked by gradcheck against it"
	       : "exact, checked by nabla gradcheck");
	if (op->flags & NB_OP_RANDOM)
		printf("  random: draws from the graph's generator\n");
	if (op->test && op->test->cases && *op->test->cases)
		printf("  gradcheck cases: %s\n", op->test->cases);
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
			printf("Usage: nabla ops [OP]... [--json]\n"
			       "List every registered op with its kind, inputs and "
			       "attributes (defaults);\nwith names, describe those "
			       "ops: inputs, attributes (type, default, range,\n"
			       "meaning), gradient, gradcheck cases.\n");
			return CLI_OK;
		default:
			return cli_usage_error("ops", "unknown option '%s'",
			                       argv[optind - 1]);
		}
	}
	if (!nb_op_count()) {
		fprintf(stderr, "nabla ops: %s\n", nb_last_error());
		return CLI_FAIL;
	}
	if (optind == argc) {
		if (json) {
			size_t n = nb_op_count();
			const nb_op **all = malloc((n ? n : 1) * sizeof *all);
			if (!all) {
				fprintf(stderr, "nabla ops: out of memory\n");
				return CLI_FAIL;
			}
			for (size_t i = 0; i < n; i++)
				all[i] = nb_op_at(i);
			list_json(all, n, false);
			free(all);
		} else {
			list_text();
		}
		return CLI_OK;
	}
	/* Named ops: all must exist before anything is printed. */
	int n = argc - optind;
	const nb_op **ops = malloc((size_t)n * sizeof *ops);
	if (!ops) {
		fprintf(stderr, "nabla ops: out of memory\n");
		return CLI_FAIL;
	}
	for (int i = 0; i < n; i++) {
		if (!(ops[i] = nb_op_find(argv[optind + i]))) {
			free(ops);
			return cli_usage_error("ops", "unknown op '%s' (nabla ops "
			                       "lists them)", argv[optind + i]);
		}
	}
	if (json) {
		list_json(ops, (size_t)n, true);
	} else {
		for (int i = 0; i < n; i++) {
			if (i)
				putchar('\n');
			describe(ops[i]);
		}
	}
	free(ops);
	return CLI_OK;
}
