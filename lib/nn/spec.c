/*
 * spec.c - the model spec language: parsing text such as
 *     linear:256 batch_norm relu dropout:0.2 linear:10
 *     conv2d:8:3:padding=1 relu max_pool2d:2 flatten linear:10
 *     linear:128 residual(layer_norm linear:128 relu) 2x(residual(linear:128 relu)) linear:10
 * into a tree of layers and blocks (nb_spec, stored in pre-order: a
 * block is followed by its body), with errors that give the line and
 * column of the problem and say what was expected.  One pass over the
 * text with an explicit stack of open blocks (no recursion), then one
 * pass over the entries to bound what the spec asks for and one to name
 * them, so parsing is linear in the text's length.
 *
 * Grammar (white space separates items; nothing else may):
 *     spec   = { ws } item { ws { ws } item } { ws }
 *     item   = layer | block
 *     block  = ( "residual" | count "x" ) "(" { ws } item { ws { ws } item }
 *              { ws } ")" [ "@" label ]        (nested at most
 *                                               NB_SPEC_MAX_DEPTH deep)
 *     count  = 1*digit                         (1 to NB_SPEC_MAX_REPEAT)
 *     layer  = name [ ":" args ] [ "@" label ]
 *     args   = arg { "," arg }              (n_positional > 1: "," or ":")
 *     arg    = value | key "=" value        (only the first n_positional,
 *                                            default 1, are positional)
 *     value  = 1*( letter | digit | "." | "-" | "+" | "_" | list )
 *     list   = "[" { any but "]", white space or "@" } "]"
 *     name, key = ( letter | "_" ) { letter | digit | "_" }
 *     label  = 1*( letter | digit | "_" | "-" )
 * A layer's name is a row of the layer table (nb_layer_find: linear,
 * conv2d, flatten, reshape, mean, registered ones), an op flagged
 * NB_OP_LAYER, or input (input:N, first only).  Normalizations also
 * take the layer options affine= and track_running_stats= when the op
 * has no attribute of that name.  Attribute values are checked by the
 * row's or op's own attribute table (nb_attrs_parse), one argument at a
 * time, so an error points at the argument that caused it.
 */
#include <ctype.h>
#include <stdio.h>
#include "internal.h"

#define HASH_NONFATAL_OOM 1
#define uthash_malloc(sz) nb__malloc(sz)
#define uthash_free(ptr, sz) nb__free(ptr)
#include <uthash.h>

/*
 * What a spec may ask for.  Without bounds a few bytes of text could
 * ask model building for more memory than any machine has, or, with
 * overcommit, start writing it until the system kills the process.
 * Parameters count only what the spec determines by itself (see
 * bound_params); nb_model_from_spec's allocations refuse the rest.
 */
#define MAX_LAYERS 100000
#define MAX_PARAMS 4294967296.0 /* 2^32: 16 GiB of float32 weights */
#define MAX_ARGS 64             /* arguments of one layer */

struct nb_spec {
	nb_spec_layer *layers;
	size_t n, cap;
	int64_t input;
	char *text; /* a copy, for the positions of later errors */
};

#define SIZE_RANGE NB_RANGE(1, (double)(1LL << 40))

/* input:N, a pseudo-layer parsed with the attribute machinery of ops
 * (nb_attrs_parse needs only these fields). */
typedef struct input_args {
	int64_t features;
} input_args;

static const nb_attr_def input_defs[] = {
	{.name = "features", .type = NB_ATTR_INT,
	 .offset = offsetof(input_args, features), .range = SIZE_RANGE,
	 .doc = "input features"},
};

static const nb_op input_layer = {
	.name = "input", .attrs = input_defs, .n_attrs = 1,
	.attrs_size = sizeof(input_args),
};

typedef struct parser {
	const char *text;
	size_t i;
	size_t err_pos;
	nb_spec *spec;
	size_t open[NB_SPEC_MAX_DEPTH]; /* the blocks not closed yet */
	int depth;
} parser;

static void line_col(const char *text, size_t pos, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (size_t k = 0; k < pos && text[k]; k++) {
		if (text[k] == '\n') {
			++*line;
			*col = 1;
		} else {
			++*col;
		}
	}
}

static nb_status fail_at(parser *p, size_t pos, nb_status code,
                         const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* msg with control bytes and bytes above 0x7e (a spec is ASCII) as
 * \n, \t, \r or \xNN, so that an error echoing the text cannot move
 * the cursor or garble a terminal. */
static void escape(const char *msg, char *out, size_t cap)
{
	size_t k = 0;
	for (const unsigned char *c = (const unsigned char *)msg; *c; c++) {
		char e[8];
		const char *named = *c == '\n' ? "\\n" : *c == '\t' ? "\\t"
		                  : *c == '\r' ? "\\r" : NULL;
		if (*c >= 0x20 && *c < 0x7f)
			snprintf(e, sizeof e, "%c", *c);
		else if (named)
			snprintf(e, sizeof e, "%s", named);
		else
			snprintf(e, sizeof e, "\\x%02x", *c);
		size_t n = strlen(e);
		if (k + n >= cap)
			break;
		memcpy(out + k, e, n);
		k += n;
	}
	out[k] = '\0';
}

static nb_status fail_at(parser *p, size_t pos, nb_status code,
                         const char *fmt, ...)
{
	char msg[512], shown[512];
	int line, col;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	escape(msg, shown, sizeof shown);
	line_col(p->text, pos, &line, &col);
	p->err_pos = pos;
	return nb__set_error(code, "spec:%d:%d: %s", line, col, shown);
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_ident(char c, bool first)
{
	return isalpha((unsigned char)c) || c == '_' ||
	       (!first && isdigit((unsigned char)c));
}

static bool is_label_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '-';
}

static bool is_layer(const nb_op *op)
{
	return op->flags & NB_OP_LAYER;
}

/* Whether op has an optional input a layer makes in group grp. */
static bool has_group(const nb_op *op, nb_in_group grp)
{
	for (int i = 1; i < op->n_inputs; i++)
		if (op->inputs[i].role != NB_ROLE_DATA &&
		    op->inputs[i].group == grp &&
		    (op->inputs[i].flags & NB_IN_OPTIONAL))
			return true;
	return false;
}

/* Edit distance of a[0..na) and b, capped at 3 (enough to suggest). */
static int distance(const char *a, size_t na, const char *b)
{
	size_t nb = strlen(b);
	int row[64];
	if (na >= 63 || nb >= 63)
		return 99;
	for (size_t j = 0; j <= nb; j++)
		row[j] = (int)j;
	for (size_t i = 1; i <= na; i++) {
		int diag = row[0];
		row[0] = (int)i;
		for (size_t j = 1; j <= nb; j++) {
			int up = row[j];
			int best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[nb];
}

/* Regularizer ops that are not layers: penalties reduce a weight to a
 * scalar for the loss. */
static bool is_penalty(const nb_op *op)
{
	return op->kind == NB_KIND_REGULARIZER && !is_layer(op);
}

/* "did you mean 'relu'? " or "", and a few layer names as examples. */
static void suggest(const char *w, size_t n, char *out, size_t cap)
{
	static const char *const common[] = {
		"relu", "tanh", "batch_norm", "layer_norm", "dropout:P",
	};
	const char *best = NULL;
	int bestd = n > 4 ? 3 : 2;
	char examples[160] = "";
	size_t k = 0;
	for (size_t i = 0; i < nb_layer_count(); i++) {
		const char *nm = nb_layer_at(i)->name;
		if (distance(w, n, nm) < bestd) {
			best = nm;
			bestd = distance(w, n, nm);
		}
	}
	for (size_t i = 0; i < nb_op_count(); i++) {
		const nb_op *op = nb_op_at(i);
		int d = is_layer(op) ? distance(w, n, op->name) : 99;
		if (d < bestd) {
			bestd = d;
			best = op->name;
		}
	}
	/* Examples: the common layers that are registered. */
	for (size_t i = 0; i < sizeof common / sizeof *common; i++) {
		char nm[32];
		snprintf(nm, sizeof nm, "%.*s", (int)strcspn(common[i], ":"),
		         common[i]);
		if (nb_op_find(nm) && k < sizeof examples)
			k += (size_t)snprintf(examples + k, sizeof examples - k,
			                      ", %s", common[i]);
	}
	snprintf(out, cap, "%s%s%sexpected linear:N, conv2d:OUT:K, flatten "
	         "or an activation, normalization, regularizer or pooling op "
	         "such as %s; 'nabla ops' lists them; blocks are residual(...) "
	         "and Nx(...)", best ? "did you mean '" : "",
	         best ? best : "", best ? "'? " : "",
	         k ? examples + 2 : "relu, batch_norm, dropout:P");
}

static nb_status push_layer(parser *p, nb_spec_layer *l)
{
	nb_spec *s = p->spec;
	if (s->n == MAX_LAYERS)
		return fail_at(p, l->pos, NB_EINVAL, "too many layers: a spec "
		               "may have at most %d", MAX_LAYERS);
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		nb_spec_layer *t = nb__realloc(s->layers, cap * sizeof *t);
		if (!t)
			return nb__set_error(NB_ENOMEM, "spec: out of memory");
		s->layers = t;
		s->cap = cap;
	}
	s->layers[s->n++] = *l;
	return NB_OK;
}

/* Characters of an argument outside brackets: numbers, names, '='. */
static bool is_arg_char(char c)
{
	return c && (isalnum((unsigned char)c) || strchr("._-+=[]", c));
}

/* Length of the argument at p->i (up to ',', '@', white space, the end
 * or any character that cannot be in an argument). */
static nb_status scan_arg(parser *p, size_t *len)
{
	const char *t = p->text + p->i;
	size_t k = 0;
	while (is_arg_char(t[k])) {
		if (t[k] == '[') {
			const char *close = strchr(t + k, ']');
			size_t nl = strcspn(t + k, " \t\r\n@");
			if (!close || (size_t)(close - (t + k)) > nl)
				return fail_at(p, p->i + k, NB_EFORMAT, "unterminated "
				               "'[' (expected a list such as [0,1])");
			k = (size_t)(close - t) + 1;
			continue;
		}
		if (t[k] == ']')
			return fail_at(p, p->i + k, NB_EFORMAT, "']' without '['");
		k++;
	}
	*len = k;
	return NB_OK;
}

/*
 * The layer options affine= and track_running_stats= of an op with
 * optional inputs in those groups (nb_in_group): sets the NB_LAYER_*
 * flag and removes the argument from acc (which ends with it).  Returns
 * whether the argument was one; *st is the error, if any.
 */
static bool layer_option(parser *p, const nb_op *op, const char *a,
                         size_t len, size_t vpos, char *acc, size_t *alen,
                         unsigned *flags, nb_status *st)
{
	static const char *const keys[] = {"affine", "track_running_stats"};
	*st = NB_OK;
	for (int k = 0; k < 2; k++) {
		size_t kl = strlen(keys[k]);
		if (len <= kl || strncmp(a, keys[k], kl) || a[kl] != '=' ||
		    !has_group(op, k ? NB_GROUP_STATS : NB_GROUP_AFFINE))
			continue;
		const char *v = a + kl + 1;
		size_t vl = len - kl - 1;
		bool on = vl == 1 && *v == '1', off = vl == 1 && *v == '0';
		on |= vl == 4 && !strncmp(v, "true", 4);
		off |= vl == 5 && !strncmp(v, "false", 5);
		if (!on && !off)
			*st = fail_at(p, vpos, NB_EINVAL, "%s: %s takes 0 or 1 (or "
			              "false/true), not '%.*s'", op->name, keys[k],
			              (int)vl, v);
		unsigned bit = k ? NB_LAYER_STATS : NB_LAYER_AFFINE;
		*flags &= ~(bit | bit << 1);
		*flags |= on ? bit : bit << 1;
		/* Drop the option from acc: it is not the op's. */
		*alen -= len + (*alen > len ? 1 : 0);
		acc[*alen] = '\0';
		return true;
	}
	return false;
}

/*
 * Notes that argument number count, at text offset at, sets the
 * attribute key[0..klen) of op: an error if an earlier argument set it
 * (the last one would win without a word).
 */
static nb_status note_key(parser *p, const nb_op *op, int count,
                          const char *key, size_t klen, size_t at,
                          const char **keys, size_t *klens, size_t *ats)
{
	if (count >= MAX_ARGS)
		return fail_at(p, at, NB_EINVAL, "%s: too many arguments (at "
		               "most %d)", op->name, MAX_ARGS);
	for (int k = 0; k < count; k++)
		if (klens[k] == klen && !memcmp(keys[k], key, klen)) {
			int line, col;
			line_col(p->text, ats[k], &line, &col);
			return fail_at(p, at, NB_EINVAL, "%s: attribute '%.*s' is "
			               "given twice (first at %d:%d)", op->name,
			               (int)klen, key, line, col);
		}
	keys[count] = key;
	klens[count] = klen;
	ats[count] = at;
	return NB_OK;
}

/*
 * Parses ARGS after ':' into buf, the attribute struct of op (a real op
 * or linear/input's table).  One argument at a time, so that an error
 * points at its argument.
 */
static nb_status parse_args(parser *p, const nb_op *op, void *buf,
                            unsigned *flags, int npos)
{
	char acc[1024];
	size_t alen = 0;
	int count = 0;
	bool conv = npos > 1; /* ':' also separates, as in conv2d:8:3 */
	const char *keys[MAX_ARGS];
	size_t klens[MAX_ARGS], ats[MAX_ARGS];
	acc[0] = '\0';
	for (;;) {
		size_t at = p->i, len = 0;
		nb_status st = scan_arg(p, &len);
		if (st)
			return st;
		if (!len)
			return fail_at(p, at, NB_EFORMAT, "expected an argument "
			               "after '%c' (such as %s:VALUE or KEY=VALUE)",
			               p->text[at - 1], op->name);
		const char *a = p->text + at;
		const char *eq = memchr(a, '=', len);
		const char *br = memchr(a, '[', len);
		if (eq && br && br < eq)
			eq = NULL;
		size_t vpos = at;
		if (count < npos && count < op->n_attrs && !eq)
			st = note_key(p, op, count, op->attrs[count].name,
			              strlen(op->attrs[count].name), at, keys, klens,
			              ats);
		else if (eq)
			st = note_key(p, op, count, a, (size_t)(eq - a), at, keys,
			              klens, ats);
		if (st)
			return st;
		if (!eq) {
			if (count >= npos)
				return fail_at(p, at, NB_EFORMAT, "only the first %s"
				    "may be positional: write KEY=%.*s",
				    npos == 2 ? "two arguments " : npos > 2
				    ? "arguments " : "argument ", (int)len, a);
			if (!op->n_attrs)
				return fail_at(p, at, NB_EINVAL, "'%s' takes no "
				               "arguments", op->name);
			alen += (size_t)snprintf(acc + alen, sizeof acc - alen,
			                         "%s%s=%.*s", alen ? " " : "",
			                         op->attrs[count].name, (int)len, a);
		} else {
			if (eq == a || !is_ident(*a, true))
				return fail_at(p, at, NB_EFORMAT, "expected an "
				               "attribute name before '='");
			for (const char *c = a; c < eq; c++)
				if (!is_ident(*c, false))
					return fail_at(p, (size_t)(c - p->text),
					    NB_EFORMAT, "bad character '%c' in "
					    "attribute name", *c);
			vpos = at + (size_t)(eq - a) + 1;
			alen += (size_t)snprintf(acc + alen, sizeof acc - alen,
			                         "%s%.*s", alen ? " " : "",
			                         (int)len, a);
		}
		if (alen >= sizeof acc - 1)
			return fail_at(p, at, NB_EINVAL, "arguments too long");
		if (eq && flags && layer_option(p, op, a, len, vpos, acc, &alen,
		                                flags, &st)) {
			if (st)
				return st;
			goto next;
		}
		if ((st = nb_attrs_parse(op, acc, buf)))
			return fail_at(p, st == NB_ENOTFOUND ? at : vpos, st, "%s",
			               nb_last_error());
	next:
		count++;
		p->i += len;
		if (p->text[p->i] != ',' && !(conv && p->text[p->i] == ':'))
			return NB_OK;
		p->i++;
	}
}

static nb_status parse_label(parser *p, nb_spec_layer *l)
{
	size_t at = ++p->i, k = at;
	while (is_label_char(p->text[k]))
		k++;
	if (k == at)
		return fail_at(p, at, NB_EFORMAT, "expected a module name after "
		               "'@' (letters, digits, '_' or '-')");
	char *name = nb__malloc(k - at + 1);
	if (!name)
		return nb__set_error(NB_ENOMEM, "spec: out of memory");
	memcpy(name, p->text + at, k - at);
	name[k - at] = '\0';
	l->name = name;
	p->i = k;
	return NB_OK;
}

/* The op named text[at..at+n) as a layer, or an error there. */
static nb_status resolve(parser *p, size_t at, size_t n, const nb_op **op)
{
	char name[64], hint[400];
	const char *w = p->text + at;
	if (n < sizeof name) {
		memcpy(name, w, n);
		name[n] = '\0';
		*op = nb_op_find(name);
		if (*op && is_penalty(*op))
			return fail_at(p, at, NB_EINVAL, "'%s' is a weight penalty, "
			               "not a layer: add it to the loss (nabla train "
			               "--l1, --l2)", name);
		if (*op && is_layer(*op))
			return NB_OK;
		if (*op)
			return fail_at(p, at, NB_EINVAL, "'%s' is %s %s op, not a "
			    "layer (layers are linear:N, activations, "
			    "normalizations and regularizers)", name,
			    (*op)->kind == NB_KIND_ARITH ? "an" : "a",
			    nb_op_kind_name((*op)->kind));
	}
	suggest(w, n, hint, sizeof hint);
	return fail_at(p, at, NB_ENOTFOUND, "unknown layer '%.*s' (%s)",
	               (int)n, w, hint);
}

/* The enclosing block of the next entry, SIZE_MAX at the top. */
static size_t parent_of(const parser *p)
{
	return p->depth ? p->open[p->depth - 1] : SIZE_MAX;
}

/* What may follow a layer or a block: white space, the end or the ')'
 * of the enclosing block. */
static nb_status expect_end(parser *p, const char *what)
{
	char c = p->text[p->i];
	if (!c || is_ws(c) || c == ')')
		return NB_OK;
	return fail_at(p, p->i, NB_EFORMAT, "unexpected '%c' after the %s "
	               "(layers are separated by spaces)", c, what);
}

/* Opens a block (a residual or repeat kind) whose text starts at at and
 * whose '(' is at p->i. */
static nb_status open_block(parser *p, size_t at, nb_block_kind kind,
                            int64_t repeat)
{
	nb_status st;
	if (p->depth == NB_SPEC_MAX_DEPTH)
		return fail_at(p, at, NB_EINVAL, "blocks nest at most %d deep",
		               NB_SPEC_MAX_DEPTH);
	nb_spec_layer l = {
		.type = NB_LAYER_BLOCK, .block = kind, .repeat = repeat,
		.pos = at, .parent = parent_of(p), .depth = p->depth,
	};
	if ((st = push_layer(p, &l)))
		return st;
	p->open[p->depth++] = p->spec->n - 1;
	p->i++;
	return NB_OK;
}

/* Nx( at p->i: the count, then the block. */
static nb_status open_repeat(parser *p)
{
	size_t at = p->i, k = 0;
	int64_t v = 0;
	while (isdigit((unsigned char)p->text[at + k])) {
		if (v <= NB_SPEC_MAX_REPEAT)
			v = v * 10 + (p->text[at + k] - '0');
		k++;
	}
	if (p->text[at + k] != 'x' || p->text[at + k + 1] != '(')
		return fail_at(p, at + k, NB_EFORMAT, "expected 'x(' after %.*s "
		               "(a repetition is Nx( LAYERS ), such as "
		               "2x(linear:64 relu))", (int)(k < 20 ? k : 20),
		               p->text + at);
	if (v < 1 || v > NB_SPEC_MAX_REPEAT)
		return fail_at(p, at, NB_EINVAL, "the repeat count %.*s is outside "
		               "[1, %d]", (int)(k < 20 ? k : 20), p->text + at,
		               NB_SPEC_MAX_REPEAT);
	p->i = at + k + 1;
	return open_block(p, at, NB_BLOCK_REPEAT, v);
}

/* ')' at p->i: closes the innermost block, with its optional @LABEL. */
static nb_status close_block(parser *p)
{
	nb_spec *s = p->spec;
	nb_status st;
	if (!p->depth)
		return fail_at(p, p->i, NB_EFORMAT, "')' without '(' (blocks are "
		               "residual( LAYERS ) and Nx( LAYERS ))");
	size_t idx = p->open[--p->depth];
	if (s->n == idx + 1)
		return fail_at(p, p->i, NB_EFORMAT, "empty block: put at least "
		               "one layer between '(' and ')'");
	s->layers[idx].span = s->n - idx - 1;
	p->i++;
	if (p->text[p->i] == '@' && (st = parse_label(p, &s->layers[idx])))
		return st;
	s->layers[idx].len = p->i - s->layers[idx].pos;
	return expect_end(p, "block");
}

/* The attributes of a row seen as an op's, for nb_attrs_parse. */
static nb_op row_as_op(const nb_layer_def *d)
{
	return (nb_op){.name = d->name, .attrs = d->attrs,
	               .n_attrs = d->n_attrs, .attrs_size = d->attrs_size};
}

/* input:N, whose ARGS were parsed into buf; at is where it starts and
 * n the length of its name. */
static nb_status finish_input(parser *p, size_t at, size_t n,
                              const void *buf)
{
	if (p->spec->n || p->spec->input)
		return fail_at(p, at, NB_EINVAL, "input:N may only be the "
		               "first layer");
	p->spec->input = ((const input_args *)buf)->features;
	if (!p->spec->input)
		return fail_at(p, at + n, NB_EINVAL, "input needs its "
		               "size (input:N)");
	if (p->text[p->i] == '@')
		return fail_at(p, p->i, NB_EINVAL, "input takes no name");
	return expect_end(p, "layer");
}

/* The layer l of the row def (or op layer of op) with attributes buf:
 * checked, copied into l. */
static nb_status finish_layer(parser *p, size_t at, const nb_layer_def *def,
                              const nb_op *op, const void *buf,
                              nb_spec_layer *l)
{
	nb_status st;
	size_t size = def ? def->attrs_size : op->attrs_size;
	if (def && def->check && (st = def->check(buf)))
		return fail_at(p, at, st, "%s", nb_last_error());
	void *copy = nb__malloc(size ? size : 1);
	if (!copy)
		return nb__set_error(NB_ENOMEM, "spec: out of memory");
	memcpy(copy, buf, size);
	l->attrs = copy;
	if (def) {
		l->def = def;
		l->type = NB_LAYER_OTHER;
		if (def->describe)
			def->describe(copy, l);
	} else {
		l->type = NB_LAYER_OP;
		l->op = op;
	}
	return NB_OK;
}

/* One item at p->i: a layer, input:N, or the opening of a block. */
static nb_status parse_layer(parser *p)
{
	size_t at = p->i, n = 0;
	nb_spec_layer l = {.pos = at, .parent = parent_of(p),
	                   .depth = p->depth};
	_Alignas(max_align_t) unsigned char buf[NB_MAX_ATTRS_SIZE];
	const nb_op *op = NULL;
	const nb_layer_def *def = NULL;
	nb_op row;
	char name[64];
	nb_status st;
	if (isdigit((unsigned char)p->text[at]))
		return open_repeat(p);
	if (!is_ident(p->text[at], true))
		return fail_at(p, at, NB_EFORMAT, "expected a layer name, not "
		               "'%c' (layers look like linear:N, relu, "
		               "dropout:0.2)", p->text[at]);
	while (is_ident(p->text[at + n], false))
		n++;
	if (p->text[at + n] == '(') {
		p->i = at + n;
		if (n == 8 && !strncmp(p->text + at, "residual", 8))
			return open_block(p, at, NB_BLOCK_RESIDUAL, 0);
		return fail_at(p, at, NB_EFORMAT, "unknown block '%.*s(' (blocks "
		               "are residual( LAYERS ) and Nx( LAYERS ))",
		               (int)(n < 40 ? n : 40), p->text + at);
	}
	bool is_input = n == 5 && !strncmp(p->text + at, "input", 5);
	if (n < sizeof name) {
		memcpy(name, p->text + at, n);
		name[n] = '\0';
		def = is_input ? NULL : nb_layer_find(name);
	}
	if (def) {
		row = row_as_op(def);
		op = &row;
	} else if (is_input) {
		op = &input_layer;
	} else if ((st = resolve(p, at, n, &op))) {
		return st;
	}
	/* Not nb_attrs_parse: linear's and input's size has no valid
	 * default, and its check would leave an error in nb_last_error()
	 * of a spec that parses. */
	nb__attrs_defaults(op, buf);
	p->i = at + n;
	if (p->text[p->i] == ':') {
		p->i++;
		int npos = def && def->n_positional ? def->n_positional : 1;
		if ((st = parse_args(p, op, buf, def || is_input ? NULL
		                     : &l.flags, npos)))
			return st;
	}
	if (is_input)
		return finish_input(p, at, n, buf);
	if ((st = finish_layer(p, at + n, def, op, buf, &l)))
		return st;
	if ((p->text[p->i] == '@' && (st = parse_label(p, &l))) ||
	    (st = expect_end(p, "layer")))
		goto fail;
	l.len = p->i - at;
	if ((st = push_layer(p, &l)))
		goto fail;
	return NB_OK;
fail:
	nb__free((void *)l.attrs);
	nb__free((void *)l.name);
	return st;
}

/* The automatic module name prefix of an entry. */
static const char *auto_prefix(const nb_spec_layer *l)
{
	if (l->type == NB_LAYER_BLOCK)
		return l->block == NB_BLOCK_RESIDUAL ? "res" : "rep";
	if (l->def)
		return l->def->prefix ? l->def->prefix : l->def->name;
	return l->op->layer_prefix ? l->op->layer_prefix : l->op->name;
}

/* A name in a uthash table: the count of a prefix, or the first entry
 * of a module name. */
typedef struct name_entry {
	size_t value;
	UT_hash_handle hh;
} name_entry;

/*
 * Names the entries of one scope (the top, or a block's body: [first,
 * end), its direct children) that have no label, then rejects a name
 * used twice in the scope.  A number counts the unlabelled entries of
 * its prefix up to it (a table of counts by prefix); a table of names
 * finds duplicates.  The entries come from ents, *used of them taken;
 * each scope's children are visited once, so naming a spec is linear in
 * its length.
 */
static nb_status name_scope(parser *p, size_t first, size_t end,
                            name_entry *ents, size_t *used)
{
	nb_spec *s = p->spec;
	name_entry *table = NULL, *e;
	nb_status st = NB_OK;
	bool oom = false;
	for (size_t i = first; i < end && !oom; i += 1 + s->layers[i].span) {
		if (s->layers[i].name)
			continue;
		const char *pre = auto_prefix(&s->layers[i]);
		char buf[96];
		HASH_FIND_STR(table, pre, e);
		if (!e) {
			e = &ents[(*used)++];
			HASH_ADD_KEYPTR(hh, table, pre, strlen(pre), e);
			if (!e->hh.tbl) { /* uthash's non-fatal out-of-memory */
				oom = true;
				break;
			}
		}
		snprintf(buf, sizeof buf, "%s%zu", pre, ++e->value);
		oom = !(s->layers[i].name = nb__strdup(buf));
	}
	HASH_CLEAR(hh, table);
	for (size_t i = first; i < end && !oom; i += 1 + s->layers[i].span) {
		const char *nm = s->layers[i].name;
		HASH_FIND_STR(table, nm, e);
		if (e) {
			int line, col;
			line_col(p->text, s->layers[e->value].pos, &line, &col);
			st = fail_at(p, s->layers[i].pos, NB_EEXIST, "module name "
			             "'%s' is taken by the layer at %d:%d (give one "
			             "of them another @name)", nm, line, col);
			break;
		}
		e = &ents[(*used)++];
		*e = (name_entry){.value = i};
		HASH_ADD_KEYPTR(hh, table, nm, strlen(nm), e);
		oom = !e->hh.tbl;
	}
	HASH_CLEAR(hh, table);
	return oom ? nb__set_error(NB_ENOMEM, "spec: out of memory") : st;
}

/* Names every scope: the top, then each block's body. */
static nb_status name_layers(parser *p)
{
	nb_spec *s = p->spec;
	size_t used = 0;
	name_entry *ents = nb__calloc(2 * s->n, sizeof *ents);
	if (!ents)
		return nb__set_error(NB_ENOMEM, "spec: out of memory");
	nb_status st = name_scope(p, 0, s->n, ents, &used);
	for (size_t i = 0; i < s->n && !st; i++)
		if (s->layers[i].type == NB_LAYER_BLOCK)
			st = name_scope(p, i + 1, i + 1 + s->layers[i].span, ents,
			                &used);
	nb__free(ents);
	return st;
}

/* An open block in bound_params: where it ends, how many times its
 * body is built, and the features at its start. */
typedef struct block_bound {
	size_t at, end;
	double mult;
	int64_t f;
} block_bound;

/* At entry i (or the end), closes the blocks that end there; a residual
 * body must give back the features it was given, when both are known. */
static nb_status close_blocks(parser *p, block_bound *ob, int *d, size_t i,
                              int64_t f)
{
	for (; *d > 0 && ob[*d].end <= i; --*d) {
		const nb_spec_layer *b = &p->spec->layers[ob[*d].at];
		if (b->block == NB_BLOCK_RESIDUAL && ob[*d].f && f &&
		    ob[*d].f != f)
			return fail_at(p, b->pos, NB_EINVAL, "residual block: its "
			               "layers change the shape [%lld] to [%lld], "
			               "and x + f(x) needs the same shape",
			               (long long)ob[*d].f, (long long)f);
	}
	return NB_OK;
}

/*
 * What the spec asks to build, counting each copy of a repeated block:
 * at most MAX_LAYERS modules, and at most MAX_PARAMS parameters in the
 * layers whose input size the spec determines by itself (a linear after
 * input:N or after another linear, activations, normalizations and the
 * like keeping the features; a conv2d after another conv2d, pooling
 * keeping the channels, or first, on one-channel images).  Too many is
 * an error at the entry that crosses the bound.  Counted in double,
 * which cannot overflow here; a normalization's 2 * features are left
 * out (no more than the linear before it).  Also checks residual blocks
 * whose features are known.
 */
static nb_status bound_params(parser *p)
{
	const nb_spec *s = p->spec;
	int64_t f = s->input, c = 0; /* features, channels; 0: unknown */
	double total = 0, modules = 0;
	block_bound ob[NB_SPEC_MAX_DEPTH + 1] = {{.end = s->n, .mult = 1}};
	int d = 0;
	nb_status st;
	for (size_t i = 0; i < s->n; i++) {
		const nb_spec_layer *l = &s->layers[i];
		double u = (double)l->units, mult = ob[d].mult;
		if ((st = close_blocks(p, ob, &d, i, f)))
			return st;
		mult = ob[d].mult;
		modules += mult;
		if (l->type == NB_LAYER_BLOCK) {
			double r = l->block == NB_BLOCK_REPEAT ? (double)l->repeat : 1;
			if (l->block == NB_BLOCK_REPEAT)
				modules += mult * r; /* the copies' containers */
			ob[++d] = (block_bound){i, i + 1 + l->span, mult * r, f};
		} else if (l->type == NB_LAYER_LINEAR) {
			total += f ? mult * ((double)f * u + (l->bias ? u : 0)) : 0;
			f = l->units;
			c = 0;
		} else if (l->type == NB_LAYER_CONV2D) {
			if (!i)
				c = 1;
			total += c ? mult * (u * (double)(c / l->conv.groups) *
			             (double)l->kernel[0] * (double)l->kernel[1] +
			             (l->bias ? u : 0)) : 0;
			c = l->units;
			f = 0;
		} else if (l->type == NB_LAYER_FLATTEN ||
		           l->type == NB_LAYER_OTHER) {
			f = c = 0; /* the image size is the data's */
		} else if (!i && l->op->kind == NB_KIND_POOL) {
			c = 1;
		}
		if (total > MAX_PARAMS)
			return fail_at(p, l->pos, NB_EINVAL, "this layer brings the "
			               "model to %.0f parameters, more than the %.0f "
			               "(2^32) a spec may ask for", total, MAX_PARAMS);
		if (modules > MAX_LAYERS)
			return fail_at(p, l->pos, NB_EINVAL, "this brings the model "
			               "to %.0f modules (each copy of a repeated block "
			               "counts), more than the %d a spec may ask for",
			               modules, MAX_LAYERS);
	}
	return close_blocks(p, ob, &d, s->n, f);
}

void nb_spec_free(nb_spec *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		nb__free((void *)s->layers[i].attrs);
		nb__free((void *)s->layers[i].name);
	}
	nb__free(s->layers);
	nb__free(s->text);
	nb__free(s);
}

/* The items of the text, up to its end. */
static nb_status parse_items(parser *p)
{
	nb_status st;
	for (;;) {
		while (is_ws(p->text[p->i]))
			p->i++;
		if (!p->text[p->i])
			break;
		st = p->text[p->i] == ')' ? close_block(p) : parse_layer(p);
		if (st)
			return st;
	}
	if (p->depth)
		return fail_at(p, p->spec->layers[p->open[p->depth - 1]].pos,
		               NB_EFORMAT, "unbalanced parentheses: this block "
		               "is not closed (expected ')')");
	if (!p->spec->n)
		return fail_at(p, p->i, NB_EFORMAT, "the model has no layers "
		               "(expected a layer such as linear:N)");
	return NB_OK;
}

nb_status nb_spec_parse(const char *text, nb_spec **out, size_t *err_pos)
{
	nb_status st;
	parser p = {.text = text};
	if (out)
		*out = NULL;
	if (!text || !out)
		return nb__set_error(NB_EINVAL, "spec: %s is NULL",
		                     text ? "out" : "text");
	if ((st = nb__layers_ensure()))
		return st;
	if (!(p.spec = nb__calloc(1, sizeof *p.spec)))
		return nb__set_error(NB_ENOMEM, "spec: out of memory");
	if ((st = parse_items(&p)) || (st = bound_params(&p)) ||
	    (st = name_layers(&p)))
		goto fail;
	if (!(p.spec->text = nb__strdup(text))) {
		st = nb__set_error(NB_ENOMEM, "spec: out of memory");
		goto fail;
	}
	*out = p.spec;
	return NB_OK;
fail:
	if (err_pos)
		*err_pos = p.err_pos;
	nb_spec_free(p.spec);
	return st;
}

size_t nb_spec_len(const nb_spec *s) { return s ? s->n : 0; }
int64_t nb_spec_input(const nb_spec *s) { return s ? s->input : 0; }

const nb_spec_layer *nb_spec_layer_at(const nb_spec *s, size_t i)
{
	return s && i < s->n ? &s->layers[i] : NULL;
}

void nb__spec_where(const nb_spec *s, size_t pos, int *line, int *col)
{
	line_col(s->text ? s->text : "", pos, line, col);
}
