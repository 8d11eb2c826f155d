/*
 * init.c - parameter initializers (torch.nn.init's formulas), the gains
 * and fans they use, the study notes' table, and schemes by name.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "internal.h"

/* ---- gains and fans ---- */

nb_status nb_calculate_gain(const char *nonlinearity, double param,
                            double *gain)
{
	static const char *const ones[] = {
		"linear", "identity", "conv1d", "conv2d", "conv3d",
		"conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
		"sigmoid",
	};
	const char *nl = nonlinearity;
	if (!nl || !gain)
		return nb__set_error(NB_EINVAL, "calculate_gain: %s is NULL",
		                     nl ? "gain" : "nonlinearity");
	for (size_t i = 0; i < sizeof ones / sizeof *ones; i++)
		if (!strcmp(nl, ones[i])) {
			*gain = 1.0;
			return NB_OK;
		}
	if (!strcmp(nl, "tanh")) {
		*gain = 5.0 / 3.0;
	} else if (!strcmp(nl, "relu")) {
		*gain = sqrt(2.0);
	} else if (!strcmp(nl, "leaky_relu")) {
		double s = isnan(param) ? 0.01 : param;
		if (!isfinite(s))
			return nb__set_error(NB_EINVAL, "calculate_gain: negative "
			                     "slope %g of leaky_relu is not finite",
			                     s);
		*gain = sqrt(2.0 / (1.0 + s * s));
	} else if (!strcmp(nl, "selu")) {
		*gain = 0.75;
	} else {
		return nb__set_error(NB_EINVAL, "calculate_gain: unknown "
		                     "nonlinearity '%s' (linear, identity, conv*, "
		                     "sigmoid, tanh, relu, leaky_relu, selu)", nl);
	}
	return NB_OK;
}

nb_status nb_calculate_fans(int ndim, const int64_t *shape,
                            int64_t *fan_in, int64_t *fan_out)
{
	char buf[96];
	if (!shape || !fan_in || !fan_out)
		return nb__set_error(NB_EINVAL, "calculate_fans: NULL argument");
	if (ndim < 2)
		return nb__set_error(NB_EINVAL, "fan in and fan out need a weight "
		                     "of rank >= 2 ([out, in, k...]), got shape %s",
		                     nb_shape_str(ndim < 0 ? 0 : ndim, shape, buf,
		                                  sizeof buf));
	int64_t rf = 1;
	for (int i = 2; i < ndim; i++)
		rf *= shape[i];
	*fan_in = shape[1] * rf;
	*fan_out = shape[0] * rf;
	return NB_OK;
}

/* ---- argument checks shared by every initializer ---- */

/* Prefixes the thread's last error message with who (a copy: the
 * message cannot be formatted into itself). */
static nb_status reprefix(const char *fmt, const char *who)
{
	char m[512];
	snprintf(m, sizeof m, "%s", nb_last_error());
	return nb__set_error(nb_last_status(), fmt, who, m);
}

static nb_status check_tensor(const char *who, const nb_tensor *t,
                              const nb_rng *r, bool need_rng)
{
	if (!t)
		return nb__set_error(NB_EINVAL, "%s: tensor is NULL", who);
	if (need_rng && !r)
		return nb__set_error(NB_EINVAL, "%s: generator is NULL", who);
	if (nb_tensor_is_graph(t))
		return nb__set_error(NB_EINVAL, "%s: a graph tensor; initializers "
		                     "fill persistent (parameter) tensors", who);
	if (!nb__is_float(t->dtype))
		return nb__set_error(NB_EDTYPE, "%s: tensor is %s; initializers "
		                     "fill float32 or float64 tensors", who,
		                     nb_dtype_name(t->dtype));
	return NB_OK;
}

static nb_status fans_of(const char *who, const nb_tensor *t,
                         int64_t *fan_in, int64_t *fan_out)
{
	if (nb_calculate_fans(t->ndim, t->shape, fan_in, fan_out))
		return reprefix("%s: %s", who);
	return NB_OK;
}

static nb_status check_gain(const char *who, double gain)
{
	if (!isfinite(gain) || gain < 0)
		return nb__set_error(NB_EINVAL, "%s: gain %g must be finite and "
		                     ">= 0", who, gain);
	return NB_OK;
}

/* ---- fills: one draw per element, row-major ---- */

static void fill_normal(nb_tensor *t, nb_rng *r, double mean, double std)
{
	for (size_t i = 0; i < t->numel; i++)
		nb_tensor_set(t, i, mean + std * nb_rng_normal(r));
}

static void fill_uniform(nb_tensor *t, nb_rng *r, double a, double b)
{
	for (size_t i = 0; i < t->numel; i++)
		nb_tensor_set(t, i, a + (b - a) * nb_rng_uniform(r));
}

nb_status nb_init_zeros(nb_tensor *t)
{
	return nb_init_constant(t, 0.0);
}

nb_status nb_init_constant(nb_tensor *t, double value)
{
	if (check_tensor("constant", t, NULL, false))
		return nb_last_status();
	if (!isfinite(value))
		return nb__set_error(NB_EINVAL, "constant: value %g is not "
		                     "finite", value);
	return nb_tensor_fill(t, value);
}

nb_status nb_init_normal(nb_tensor *t, nb_rng *r, double mean, double std)
{
	if (check_tensor("normal", t, r, true))
		return nb_last_status();
	if (!isfinite(mean) || !isfinite(std) || std < 0)
		return nb__set_error(NB_EINVAL, "normal: mean %g and std %g must "
		                     "be finite, std >= 0", mean, std);
	fill_normal(t, r, mean, std);
	return NB_OK;
}

nb_status nb_init_uniform(nb_tensor *t, nb_rng *r, double a, double b)
{
	if (check_tensor("uniform", t, r, true))
		return nb_last_status();
	if (!isfinite(a) || !isfinite(b) || a > b)
		return nb__set_error(NB_EINVAL, "uniform: bounds [%g, %g) must be "
		                     "finite with a <= b", a, b);
	fill_uniform(t, r, a, b);
	return NB_OK;
}

/* ---- Xavier / Glorot ---- */

static nb_status xavier(const char *who, nb_tensor *t, nb_rng *r,
                        double gain, bool normal)
{
	int64_t fi, fo;
	if (check_tensor(who, t, r, true) || check_gain(who, gain) ||
	    fans_of(who, t, &fi, &fo))
		return nb_last_status();
	if (!t->numel)
		return NB_OK;
	double std = gain * sqrt(2.0 / (double)(fi + fo));
	if (normal)
		fill_normal(t, r, 0.0, std);
	else
		fill_uniform(t, r, -sqrt(3.0) * std, sqrt(3.0) * std);
	return NB_OK;
}

nb_status nb_init_xavier_uniform(nb_tensor *t, nb_rng *r, double gain)
{
	return xavier("xavier_uniform", t, r, gain, false);
}

nb_status nb_init_xavier_normal(nb_tensor *t, nb_rng *r, double gain)
{
	return xavier("xavier_normal", t, r, gain, true);
}

/* ---- Kaiming / He, LeCun ---- */

static nb_status kaiming(const char *who, nb_tensor *t, nb_rng *r, double a,
                         nb_fan_mode mode, const char *nl, bool normal)
{
	int64_t fi, fo;
	double gain;
	if (check_tensor(who, t, r, true))
		return nb_last_status();
	if (mode != NB_FAN_IN && mode != NB_FAN_OUT)
		return nb__set_error(NB_EINVAL, "%s: mode %d is neither fan_in "
		                     "nor fan_out", who, (int)mode);
	if (nb_calculate_gain(nl, a, &gain))
		return reprefix("%s: %s", who);
	if (fans_of(who, t, &fi, &fo))
		return nb_last_status();
	if (!t->numel)
		return NB_OK;
	double std = gain / sqrt((double)(mode == NB_FAN_IN ? fi : fo));
	if (normal)
		fill_normal(t, r, 0.0, std);
	else
		fill_uniform(t, r, -sqrt(3.0) * std, sqrt(3.0) * std);
	return NB_OK;
}

nb_status nb_init_kaiming_uniform(nb_tensor *t, nb_rng *r, double a,
                                  nb_fan_mode mode, const char *nonlinearity)
{
	return kaiming("kaiming_uniform", t, r, a, mode, nonlinearity, false);
}

nb_status nb_init_kaiming_normal(nb_tensor *t, nb_rng *r, double a,
                                 nb_fan_mode mode, const char *nonlinearity)
{
	return kaiming("kaiming_normal", t, r, a, mode, nonlinearity, true);
}

nb_status nb_init_lecun_normal(nb_tensor *t, nb_rng *r)
{
	return kaiming("lecun_normal", t, r, NAN, NB_FAN_IN, "linear", true);
}

/* ---- orthogonal ---- */

/*
 * Householder QR of the m x n matrix b (m >= n, row-major, overwritten):
 * writes into q (m x n) the reduced Q with each column multiplied by the
 * sign of R's diagonal, i.e. the unique Q whose R has a positive
 * diagonal.  v is work space of m * n doubles.
 */
static void householder_q(int64_t m, int64_t n, double *b, double *q,
                          double *v)
{
	for (int64_t k = 0; k < n; k++) {
		double *vk = v + (size_t)k * m; /* length m - k */
		double norm = 0;
		for (int64_t i = k; i < m; i++)
			norm += b[i * n + k] * b[i * n + k];
		norm = sqrt(norm);
		double x0 = b[k * n + k];
		double alpha = x0 >= 0 ? -norm : norm; /* R[k][k] */
		double vn = 0;
		for (int64_t i = k; i < m; i++) {
			vk[i - k] = b[i * n + k] - (i == k ? alpha : 0.0);
			vn += vk[i - k] * vk[i - k];
		}
		vn = sqrt(vn);
		for (int64_t i = 0; i < m - k; i++)
			vk[i] = vn > 0 ? vk[i] / vn : 0.0;
		/* b[k:, k:] -= 2 v (v^T b[k:, k:]) */
		for (int64_t j = k; j < n; j++) {
			double s = 0;
			for (int64_t i = k; i < m; i++)
				s += vk[i - k] * b[i * n + j];
			for (int64_t i = k; i < m; i++)
				b[i * n + j] -= 2.0 * vk[i - k] * s;
		}
		b[k * n + k] = alpha;
	}
	/* Q = H_0 ... H_{n-1} [I_n; 0]: apply the reflections in reverse. */
	memset(q, 0, (size_t)m * n * sizeof *q);
	for (int64_t j = 0; j < n; j++)
		q[j * n + j] = 1.0;
	for (int64_t k = n - 1; k >= 0; k--) {
		const double *vk = v + (size_t)k * m;
		for (int64_t j = 0; j < n; j++) {
			double s = 0;
			for (int64_t i = k; i < m; i++)
				s += vk[i - k] * q[i * n + j];
			for (int64_t i = k; i < m; i++)
				q[i * n + j] -= 2.0 * vk[i - k] * s;
		}
	}
	/* PyTorch's sign correction: q *= sign(diag(r)). */
	for (int64_t j = 0; j < n; j++)
		if (b[j * n + j] < 0)
			for (int64_t i = 0; i < m; i++)
				q[i * n + j] = -q[i * n + j];
}

nb_status nb_init_orthogonal(nb_tensor *t, nb_rng *r, double gain)
{
	const char *who = "orthogonal";
	char buf[96];
	if (check_tensor(who, t, r, true) || check_gain(who, gain))
		return nb_last_status();
	if (t->ndim < 2)
		return nb__set_error(NB_EINVAL, "orthogonal: needs a tensor of "
		                     "rank >= 2, got shape %s",
		                     nb_shape_str(t->ndim, t->shape, buf,
		                                  sizeof buf));
	if (!t->numel)
		return NB_OK;
	int64_t rows = t->shape[0], cols = (int64_t)t->numel / rows;
	int64_t m = rows < cols ? cols : rows, n = rows < cols ? rows : cols;
	size_t mn = (size_t)m * (size_t)n;
	double *a = nb__calloc(3 * mn, sizeof *a);
	if (!a)
		return nb__set_error(NB_ENOMEM, "orthogonal: out of memory for a "
		                     "%lld x %lld matrix", (long long)rows,
		                     (long long)cols);
	double *b = a + mn, *w = b + mn;
	/* Drawn as [rows, cols]; b is that matrix, transposed if wide. */
	for (int64_t i = 0; i < rows; i++)
		for (int64_t j = 0; j < cols; j++) {
			double z = nb_rng_normal(r);
			if (rows < cols)
				b[j * n + i] = z;
			else
				b[i * n + j] = z;
		}
	householder_q(m, n, b, a, w);
	for (int64_t i = 0; i < rows; i++)
		for (int64_t j = 0; j < cols; j++)
			nb_tensor_set(t, (size_t)(i * cols + j), gain *
			              (rows < cols ? a[j * n + i] : a[i * n + j]));
	nb__free(a);
	return NB_OK;
}

/* ---- the notes' table ---- */

nb_status nb_init_notes(nb_tensor *t, nb_rng *r, const char *nonlinearity,
                        bool normal)
{
	const char *who = normal ? "notes_normal" : "notes";
	const char *nl = nonlinearity ? nonlinearity : "(none)";
	int64_t fi, fo;
	double f;
	if (check_tensor(who, t, r, true))
		return nb_last_status();
	if (!strcmp(nl, "sigmoid"))
		f = 1.0;
	else if (!strcmp(nl, "tanh"))
		f = 4.0; /* the notes' erratum, kept on purpose: see init.h */
	else if (!strcmp(nl, "relu"))
		f = sqrt(2.0);
	else
		return nb__set_error(NB_EINVAL, "%s: the notes' table covers "
		                     "sigmoid, tanh and relu, not '%s'", who, nl);
	if (fans_of(who, t, &fi, &fo))
		return nb_last_status();
	if (normal)
		fill_normal(t, r, 0.0, f * sqrt(2.0 / (double)(fi + fo)));
	else {
		double b = f * sqrt(6.0 / (double)(fi + fo));
		fill_uniform(t, r, -b, b);
	}
	return NB_OK;
}

/* ---- schemes by name ---- */

#define SPEC_MAX_ARGS 4

/* A parsed "NAME:arg,key=value,..." (pointers into a local copy). */
typedef struct spec {
	const char *name;
	int n;
	const char *key[SPEC_MAX_ARGS]; /* NULL for a positional argument */
	const char *val[SPEC_MAX_ARGS];
} spec;

static nb_status parse_spec(char *s, spec *sp)
{
	memset(sp, 0, sizeof *sp);
	sp->name = s;
	char *p = strchr(s, ':');
	if (!p)
		return NB_OK;
	*p++ = '\0';
	while (*p) {
		if (sp->n == SPEC_MAX_ARGS)
			return nb__set_error(NB_EFORMAT, "init '%s': more than %d "
			                     "arguments", sp->name, SPEC_MAX_ARGS);
		char *end = p + strcspn(p, ",");
		char more = *end;
		*end = '\0';
		char *eq = strchr(p, '=');
		if (eq) {
			*eq = '\0';
			sp->key[sp->n] = p;
			sp->val[sp->n] = eq + 1;
		} else {
			sp->val[sp->n] = p;
		}
		if (!*sp->val[sp->n] || (eq && !*p))
			return nb__set_error(NB_EFORMAT, "init '%s': empty argument",
			                     sp->name);
		sp->n++;
		p = more ? end + 1 : end;
		if (more && !*p)
			return nb__set_error(NB_EFORMAT, "init '%s': trailing ','",
			                     sp->name);
	}
	return NB_OK;
}

/*
 * The value of the argument named key, or at position pos when given
 * positionally (pos < 0: keyword only).  Marks it used.  NULL if absent.
 */
static const char *arg(spec *sp, unsigned *used, const char *key, int pos)
{
	int k = 0;
	for (int i = 0; i < sp->n; i++) {
		if (sp->key[i] ? !strcmp(sp->key[i], key) : k++ == pos) {
			*used |= 1u << i;
			return sp->val[i];
		}
	}
	return NULL;
}

static nb_status num(const spec *sp, const char *key, const char *s,
                     double *out)
{
	char *end;
	errno = 0;
	*out = strtod(s, &end);
	if (errno || *end || end == s)
		return nb__set_error(NB_EFORMAT, "init '%s': %s '%s' is not a "
		                     "number", sp->name, key, s);
	return NB_OK;
}

/* A gain: a number, or "auto" = calculate_gain(nonlinearity). */
static nb_status gain_arg(const spec *sp, const char *s, const char *nl,
                          double *out)
{
	if (!s) {
		*out = 1.0;
		return NB_OK;
	}
	if (strcmp(s, "auto"))
		return num(sp, "gain", s, out);
	if (!nl)
		return nb__set_error(NB_EINVAL, "init '%s': gain 'auto' needs the "
		                     "nonlinearity that follows the layer",
		                     sp->name);
	if (nb_calculate_gain(nl, NAN, out))
		return reprefix("init '%s': %s", sp->name);
	return NB_OK;
}

typedef enum plan_kind {
	P_CONSTANT, P_NORMAL, P_UNIFORM, P_XAVIER_U, P_XAVIER_N, P_KAIMING_U,
	P_KAIMING_N, P_LECUN, P_ORTHO, P_NOTES_U, P_NOTES_N
} plan_kind;

/* A scheme resolved to one initializer call and its arguments. */
typedef struct plan {
	plan_kind kind;
	double x, y;        /* value / mean, std / a, b / gain / slope */
	nb_fan_mode mode;
	const char *nl;
} plan;

static const struct {
	const char *name;
	plan_kind kind;
} schemes[] = {
	{"zeros", P_CONSTANT}, {"constant", P_CONSTANT}, {"normal", P_NORMAL},
	{"uniform", P_UNIFORM}, {"xavier_uniform", P_XAVIER_U},
	{"xavier_normal", P_XAVIER_N}, {"kaiming_uniform", P_KAIMING_U},
	{"kaiming_normal", P_KAIMING_N}, {"lecun_normal", P_LECUN},
	{"orthogonal", P_ORTHO}, {"notes", P_NOTES_U},
	{"notes_normal", P_NOTES_N},
};

static nb_status resolve_kaiming(spec *sp, unsigned *used, const char *nl,
                                 plan *p)
{
	const char *sa = arg(sp, used, "a", -1);
	const char *sm = arg(sp, used, "mode", -1);
	const char *sn = arg(sp, used, "nonlinearity", -1);
	p->x = 0;
	p->mode = NB_FAN_IN;
	if (sa && num(sp, "a", sa, &p->x))
		return nb_last_status();
	if (sm && !strcmp(sm, "fan_out"))
		p->mode = NB_FAN_OUT;
	else if (sm && strcmp(sm, "fan_in"))
		return nb__set_error(NB_EINVAL, "init '%s': mode '%s' is neither "
		                     "fan_in nor fan_out", sp->name, sm);
	p->nl = sn ? sn : "leaky_relu";
	if (sn && !strcmp(sn, "auto") && !(p->nl = nl))
		return nb__set_error(NB_EINVAL, "init '%s': nonlinearity 'auto' "
		                     "needs the nonlinearity that follows the "
		                     "layer", sp->name);
	return NB_OK;
}

/* Parses the arguments of sp into p, drawing nothing. */
static nb_status resolve(spec *sp, unsigned *used, const char *nl, plan *p)
{
	size_t i = 0, n = sizeof schemes / sizeof *schemes;
	while (i < n && strcmp(sp->name, schemes[i].name))
		i++;
	if (i == n)
		return nb__set_error(NB_EINVAL, "init: unknown scheme '%s' "
		                     "(choices: zeros, constant, normal, uniform, xavier_uniform, "
		                     "xavier_normal, kaiming_uniform, "
		                     "kaiming_normal, lecun_normal, orthogonal, "
		                     "notes, notes_normal)", sp->name);
	memset(p, 0, sizeof *p);
	p->kind = schemes[i].kind;
	p->nl = nl;
	const char *a, *b;
	switch (p->kind) {
	case P_CONSTANT:
		if (i == 0) /* zeros */
			return NB_OK;
		if (!(a = arg(sp, used, "value", 0)))
			return nb__set_error(NB_EFORMAT, "init 'constant' needs a "
			                     "value: constant:VALUE");
		return num(sp, "value", a, &p->x);
	case P_NORMAL:
		a = arg(sp, used, "mean", -1);
		b = arg(sp, used, "std", 0);
		p->y = 1;
		if ((a && num(sp, "mean", a, &p->x)) ||
		    (b && num(sp, "std", b, &p->y)))
			return nb_last_status();
		return NB_OK;
	case P_UNIFORM:
		a = arg(sp, used, "a", 0);
		b = arg(sp, used, "b", 1);
		p->y = 1;
		if ((a && num(sp, "a", a, &p->x)) || (b && num(sp, "b", b, &p->y)))
			return nb_last_status();
		if (sp->n == 1 && !sp->key[0]) { /* uniform:B = [-B, B) */
			p->y = p->x;
			p->x = -p->y;
		}
		return NB_OK;
	case P_XAVIER_U:
	case P_XAVIER_N:
	case P_ORTHO:
		return gain_arg(sp, arg(sp, used, "gain", 0), nl, &p->x);
	case P_KAIMING_U:
	case P_KAIMING_N:
		return resolve_kaiming(sp, used, nl, p);
	case P_LECUN:
	case P_NOTES_U:
	case P_NOTES_N:
		return NB_OK;
	}
	return NB_OK;
}

static nb_status run_plan(nb_tensor *t, nb_rng *r, const plan *p)
{
	switch (p->kind) {
	case P_CONSTANT: return nb_init_constant(t, p->x);
	case P_NORMAL: return nb_init_normal(t, r, p->x, p->y);
	case P_UNIFORM: return nb_init_uniform(t, r, p->x, p->y);
	case P_XAVIER_U: return nb_init_xavier_uniform(t, r, p->x);
	case P_XAVIER_N: return nb_init_xavier_normal(t, r, p->x);
	case P_KAIMING_U:
		return nb_init_kaiming_uniform(t, r, p->x, p->mode, p->nl);
	case P_KAIMING_N:
		return nb_init_kaiming_normal(t, r, p->x, p->mode, p->nl);
	case P_LECUN: return nb_init_lecun_normal(t, r);
	case P_ORTHO: return nb_init_orthogonal(t, r, p->x);
	case P_NOTES_U: return nb_init_notes(t, r, p->nl, false);
	case P_NOTES_N: return nb_init_notes(t, r, p->nl, true);
	}
	return nb__set_error(NB_EINVAL, "init: bad plan");
}

nb_status nb_init_apply(nb_tensor *t, nb_rng *r, const char *spec_str,
                        const char *nonlinearity)
{
	char buf[256];
	spec sp;
	plan p;
	unsigned used = 0;
	if (!spec_str)
		return nb__set_error(NB_EINVAL, "init: scheme is NULL");
	if (strlen(spec_str) >= sizeof buf)
		return nb__set_error(NB_EFORMAT, "init: scheme string longer than "
		                     "%zu characters", sizeof buf - 1);
	strcpy(buf, spec_str);
	if (parse_spec(buf, &sp) || resolve(&sp, &used, nonlinearity, &p))
		return nb_last_status();
	for (int i = 0; i < sp.n; i++)
		if (!(used & (1u << i)))
			return nb__set_error(NB_EFORMAT, "init '%s': unexpected "
			                     "argument '%s%s%s'", sp.name,
			                     sp.key[i] ? sp.key[i] : "",
			                     sp.key[i] ? "=" : "", sp.val[i]);
	return run_plan(t, r, &p);
}
