/*
 * embedding.c - the embedding module (PyTorch's nn.Embedding) and the
 * two positional encodings of a transformer: sinusoidal (a buffer, as
 * the PyTorch tutorial's PositionalEncoding) and learned (a parameter).
 */
#include <math.h>
#include "internal.h"

/* ---- embedding ---- */

typedef struct embed_state {
	double padding_idx; /* NAN: none */
} embed_state;

static nb_tensor *embed_forward(nb_module *m, nb_graph *g, nb_tensor *x)
{
	const embed_state *s = nb_module_state(m);
	return nb_embedding(g, x, nb_module_tensor(m, "weight"),
	                    s->padding_idx);
}

static const nb_module_class embed_class = {
	.type = "embedding", .forward = embed_forward, .free_state = nb__free,
};

/* m with parameter name [rows, cols] ~ N(0, 1) of kind WEIGHT; NULL with
 * m freed on error. */
static nb_module *add_normal(nb_module *m, const char *name, int64_t rows,
                             int64_t cols, nb_dtype dt, nb_rng *rng)
{
	if (!m)
		return NULL;
	nb_tensor *w = nb_tensor_randn(dt, NB_SHAPE(rows, cols), rng, 0, 1);
	/* nb_module_add_param_kind steals w, also when it fails */
	if (!w || nb_module_add_param_kind(m, name, w, NB_PARAM_WEIGHT)) {
		nb_module_free(m);
		return NULL;
	}
	return m;
}

nb_module *nb_embedding_new(const char *name, int64_t num, int64_t dim,
                            int64_t padding_idx, nb_dtype dt, nb_rng *rng)
{
	bool pad = padding_idx != NB_NO_PADDING;
	if (num < 1 || dim < 1 || !rng || !nb__is_float(dt) ||
	    (pad && (padding_idx < -num || padding_idx >= num))) {
		nb__set_error(NB_EINVAL, "embedding '%s' [%lld, %lld]: %s",
		              name ? name : "", (long long)num, (long long)dim,
		              !rng ? "generator is NULL"
		              : !nb__is_float(dt) ? "dtype must be float"
		              : num < 1 || dim < 1 ? "sizes must be at least 1"
		              : "padding_idx out of [-num, num)");
		return NULL;
	}
	embed_state *s = nb__malloc(sizeof *s);
	if (!s)
		return NULL;
	if (pad && padding_idx < 0)
		padding_idx += num;
	s->padding_idx = pad ? (double)padding_idx : NAN;
	nb_module *m = add_normal(nb_module_new(&embed_class, name, s), "weight",
	                          num, dim, dt, rng);
	if (m && pad) { /* as nn.Embedding: the padding row starts at 0 */
		nb_tensor *w = nb_module_tensor(m, "weight");
		size_t es = nb_dtype_size(dt);
		memset((char *)nb_tensor_data(w) + (size_t)(padding_idx * dim) * es,
		       0, (size_t)dim * es);
	}
	return m;
}

/* ---- positional encodings: x + table[0:T] for x [..., T, dim] ---- */

static nb_tensor *add_positions(nb_module *m, nb_graph *g, nb_tensor *x,
                                const char *table)
{
	nb_tensor *t = nb_module_tensor(m, table);
	if (!x)
		return NULL;
	int nd = nb_tensor_ndim(x);
	int64_t len = nb_tensor_dim(t, 0), dim = nb_tensor_dim(t, 1);
	if (nd < 2 || nb_tensor_dim(x, nd - 1) != dim ||
	    nb_tensor_dim(x, nd - 2) > len) {
		nb_graph_fail(g, NB_ESHAPE, "%s '%s': input must be [..., T, %lld] "
		              "with T <= %lld, got rank %d, [..., %lld, %lld]",
		              nb_module_type(m), nb_module_name(m),
		              (long long)dim, (long long)len, nd,
		              nd >= 2 ? (long long)nb_tensor_dim(x, nd - 2) : -1LL,
		              nd >= 1 ? (long long)nb_tensor_dim(x, nd - 1) : -1LL);
		return NULL;
	}
	return nb_add(g, x, nb_slice(g, t, 0, 0, nb_tensor_dim(x, nd - 2), 1));
}

static nb_tensor *sin_forward(nb_module *m, nb_graph *g, nb_tensor *x)
{
	return add_positions(m, g, x, "pe");
}

static nb_tensor *learned_forward(nb_module *m, nb_graph *g, nb_tensor *x)
{
	return add_positions(m, g, x, "weight");
}

static const nb_module_class sin_class = {
	.type = "sinusoidal_positions", .forward = sin_forward,
};

static const nb_module_class learned_class = {
	.type = "learned_positions", .forward = learned_forward,
};

static bool positions_ok(const char *what, const char *name, int64_t len,
                         int64_t dim, nb_dtype dt)
{
	if (len >= 1 && dim >= 1 && nb__is_float(dt))
		return true;
	nb__set_error(NB_EINVAL, "%s '%s' [%lld, %lld]: %s", what,
	              name ? name : "", (long long)len, (long long)dim,
	              !nb__is_float(dt) ? "dtype must be float"
	                                : "sizes must be at least 1");
	return false;
}

nb_module *nb_sinusoidal_positions_new(const char *name, int64_t max_len,
                                       int64_t dim, nb_dtype dt)
{
	if (!positions_ok("sinusoidal_positions", name, max_len, dim, dt))
		return NULL;
	nb_tensor *pe = nb_tensor_zeros(dt, NB_SHAPE(max_len, dim));
	nb_module *m = pe ? nb_module_new(&sin_class, name, NULL) : NULL;
	if (!m) {
		nb_tensor_free(pe);
		return NULL;
	}
	/* pe[p, 2i] = sin(p / 10000^(2i/d)), pe[p, 2i+1] = cos(...)
	 * (Vaswani et al. 2017, section 3.5) */
	for (int64_t p = 0; p < max_len; p++)
		for (int64_t i = 0; i < dim; i++) {
			double f = exp(-(double)(i & ~(int64_t)1) * log(10000.0) /
			               (double)dim);
			double v = i & 1 ? cos((double)p * f) : sin((double)p * f);
			nb_tensor_set(pe, (size_t)(p * dim + i), v);
		}
	if (nb_module_add_buffer(m, "pe", pe)) {
		nb_module_free(m);
		return NULL;
	}
	return m;
}

nb_module *nb_learned_positions_new(const char *name, int64_t max_len,
                                    int64_t dim, nb_dtype dt, nb_rng *rng)
{
	if (!positions_ok("learned_positions", name, max_len, dim, dt))
		return NULL;
	if (!rng) {
		nb__set_error(NB_EINVAL, "learned_positions '%s': generator is "
		              "NULL", name ? name : "");
		return NULL;
	}
	return add_normal(nb_module_new(&learned_class, name, NULL), "weight",
	                  max_len, dim, dt, rng);
}
