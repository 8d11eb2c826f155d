/*
 * tensor.c - persistent tensors, accessors and shape helpers.
 */
#include <math.h>
#include <stdio.h>
#include "internal.h"

size_t nb_dtype_size(nb_dtype dt)
{
	switch (dt) {
	case NB_F32: return sizeof(float);
	case NB_F64: return sizeof(double);
	case NB_I64: return sizeof(int64_t);
	case NB_BOOL: return sizeof(uint8_t);
	}
	return 0;
}

const char *nb_dtype_name(nb_dtype dt)
{
	switch (dt) {
	case NB_F32: return "float32";
	case NB_F64: return "float64";
	case NB_I64: return "int64";
	case NB_BOOL: return "bool";
	}
	return "?";
}

char *nb_shape_str(int ndim, const int64_t *shape, char *buf, size_t n)
{
	size_t k = 0;
	if (!buf || n == 0)
		return buf;
	if (!shape && ndim > 0) {
		snprintf(buf, n, "(null)");
		return buf;
	}
	k += (size_t)snprintf(buf, n, "[");
	for (int i = 0; i < ndim && k < n; i++)
		k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld",
		                      (long long)shape[i]);
	if (k < n)
		snprintf(buf + k, n - k, "]");
	return buf;
}

size_t nb__numel(int ndim, const int64_t *shape)
{
	size_t n = 1;
	for (int i = 0; i < ndim; i++)
		n *= (size_t)shape[i];
	return n;
}

void nb__strides(int ndim, const int64_t *shape, int64_t *strides)
{
	int64_t s = 1;
	for (int i = ndim - 1; i >= 0; i--) {
		strides[i] = s;
		s *= shape[i];
	}
}

nb_status nb__tensor_init(nb_tensor *t, nb_dtype dt, int ndim,
                          const int64_t *shape)
{
	char buf[128];
	if (dt != NB_F32 && dt != NB_F64 && dt != NB_I64 && dt != NB_BOOL)
		return nb__set_error(NB_EDTYPE, "tensor: unknown dtype %d",
		                     (int)dt);
	if (ndim < 0 || ndim > NB_MAX_DIMS)
		return nb__set_error(NB_ESHAPE,
		                     "tensor: rank %d is outside 0..%d", ndim,
		                     NB_MAX_DIMS);
	if (ndim > 0 && !shape)
		return nb__set_error(NB_EINVAL, "tensor: shape is NULL");
	/*
	 * nz, the product of the nonzero dimensions, must be countable even
	 * when a zero dimension makes the tensor empty: kernels multiply
	 * dimensions in any order (strides, outer and inner sizes), and
	 * with this bound no partial product overflows size_t or int64_t.
	 */
	size_t n = 1, nz = 1;
	for (int i = 0; i < ndim; i++) {
		if (shape[i] < 0)
			return nb__set_error(NB_ESHAPE,
			    "tensor: negative dimension in shape %s",
			    nb_shape_str(ndim, shape, buf, sizeof buf));
		if (shape[i] && nz > (SIZE_MAX / 16) / (size_t)shape[i])
			return nb__set_error(NB_ENOMEM,
			    "tensor: shape %s is too large",
			    nb_shape_str(ndim, shape, buf, sizeof buf));
		if (shape[i])
			nz *= (size_t)shape[i];
		n *= (size_t)shape[i];
	}
	memset(t, 0, sizeof *t);
	t->dtype = dt;
	t->ndim = ndim;
	for (int i = 0; i < ndim; i++)
		t->shape[i] = shape[i];
	t->numel = n;
	return NB_OK;
}

static nb_tensor *persistent_new(nb_dtype dt, int ndim, const int64_t *shape,
                                 bool alloc)
{
	nb_tensor tmp;
	if (nb__tensor_init(&tmp, dt, ndim, shape))
		return NULL;
	nb_tensor *t = nb__malloc(sizeof *t);
	if (!t)
		goto oom;
	*t = tmp;
	if (alloc) {
		t->data = nb__calloc(t->numel ? t->numel : 1, nb_dtype_size(dt));
		if (!t->data) {
			nb__free(t);
			goto oom;
		}
		t->flags |= NB_T_OWNS_DATA;
	}
	return t;
oom:
	nb__set_error(NB_ENOMEM, "tensor: out of memory");
	return NULL;
}

nb_tensor *nb_tensor_zeros(nb_dtype dt, int ndim, const int64_t *shape)
{
	return persistent_new(dt, ndim, shape, true);
}

nb_tensor *nb_tensor_full(nb_dtype dt, int ndim, const int64_t *shape,
                          double value)
{
	nb_tensor *t = nb_tensor_zeros(dt, ndim, shape);
	if (t)
		nb_tensor_fill(t, value);
	return t;
}

nb_tensor *nb_tensor_ones(nb_dtype dt, int ndim, const int64_t *shape)
{
	return nb_tensor_full(dt, ndim, shape, 1.0);
}

nb_tensor *nb_tensor_arange(nb_dtype dt, double start, double stop,
                            double step)
{
	if (step == 0 || !isfinite(start) || !isfinite(stop) ||
	    !isfinite(step)) {
		nb__set_error(NB_EINVAL, "arange: bad range %g..%g step %g",
		              start, stop, step);
		return NULL;
	}
	double len = ceil((stop - start) / step);
	if (len < 0)
		len = 0;
	if (len > 1e15) {
		nb__set_error(NB_EINVAL, "arange: %g elements is too many", len);
		return NULL;
	}
	int64_t n = (int64_t)len;
	nb_tensor *t = nb_tensor_zeros(dt, 1, &n);
	if (!t)
		return NULL;
	for (int64_t i = 0; i < n; i++)
		nb_tensor_set(t, (size_t)i, start + (double)i * step);
	return t;
}

nb_tensor *nb_tensor_randn(nb_dtype dt, int ndim, const int64_t *shape,
                           nb_rng *r, double mean, double std)
{
	if (!r) {
		nb__set_error(NB_EINVAL, "randn: generator is NULL");
		return NULL;
	}
	nb_tensor *t = nb_tensor_zeros(dt, ndim, shape);
	if (!t)
		return NULL;
	for (size_t i = 0; i < t->numel; i++)
		nb_tensor_set(t, i, mean + std * nb_rng_normal(r));
	return t;
}

nb_tensor *nb_tensor_rand(nb_dtype dt, int ndim, const int64_t *shape,
                          nb_rng *r, double lo, double hi)
{
	if (!r) {
		nb__set_error(NB_EINVAL, "rand: generator is NULL");
		return NULL;
	}
	nb_tensor *t = nb_tensor_zeros(dt, ndim, shape);
	if (!t)
		return NULL;
	for (size_t i = 0; i < t->numel; i++)
		nb_tensor_set(t, i, lo + (hi - lo) * nb_rng_uniform(r));
	return t;
}

nb_tensor *nb_tensor_from_data(nb_dtype dt, int ndim, const int64_t *shape,
                               void *data, nb_mem mode)
{
	if (!data) {
		nb__set_error(NB_EINVAL, "from_data: data is NULL");
		return NULL;
	}
	nb_tensor *t = persistent_new(dt, ndim, shape, mode == NB_COPY);
	if (!t)
		return NULL;
	if (dt == NB_BOOL)
		for (size_t i = 0; i < t->numel; i++)
			if (((const uint8_t *)data)[i] > 1) {
				nb__set_error(NB_EINVAL, "from_data: bool element "
				              "%zu is byte %u (0 or 1 only)", i,
				              ((const uint8_t *)data)[i]);
				nb_tensor_free(t);
				return NULL;
			}
	if (mode == NB_COPY)
		memcpy(t->data, data, nb__nbytes(t));
	else
		t->data = data;
	return t;
}

nb_tensor *nb_tensor_clone(const nb_tensor *t)
{
	if (!t) {
		nb__set_error(NB_EINVAL, "clone: tensor is NULL");
		return NULL;
	}
	nb_tensor *c = persistent_new(t->dtype, t->ndim, t->shape, true);
	if (c)
		memcpy(c->data, t->data, nb__nbytes(t));
	return c;
}

nb_tensor *nb__tensor_like(const nb_tensor *t)
{
	return persistent_new(t->dtype, t->ndim, t->shape, true);
}

void nb_tensor_free(nb_tensor *t)
{
	if (!t || (t->flags & NB_T_GRAPH))
		return;
	nb_tensor_free(t->grad);
	if (t->flags & NB_T_OWNS_DATA)
		nb__free(t->data);
	nb__free(t->name);
	nb__free(t);
}

/* The accessors give a neutral value for NULL and leave nb_last_error()
 * alone: a NULL tensor is most often a failed constructor or op, whose
 * cause must survive until the caller reads it. */
nb_dtype nb_tensor_dtype(const nb_tensor *t)
{
	return t ? t->dtype : (nb_dtype)-1;
}

int nb_tensor_ndim(const nb_tensor *t) { return t ? t->ndim : -1; }
const int64_t *nb_tensor_shape(const nb_tensor *t)
{
	return t ? t->shape : NULL;
}

size_t nb_tensor_numel(const nb_tensor *t) { return t ? t->numel : 0; }
void *nb_tensor_data(nb_tensor *t) { return t ? t->data : NULL; }
const void *nb_tensor_cdata(const nb_tensor *t) { return t ? t->data : NULL; }
bool nb_tensor_is_graph(const nb_tensor *t)
{
	return t && (t->flags & NB_T_GRAPH);
}

int64_t nb_tensor_dim(const nb_tensor *t, int i)
{
	if (!t)
		return -1;
	if (i < 0)
		i += t->ndim;
	if (i < 0 || i >= t->ndim)
		return -1;
	return t->shape[i];
}

double nb_tensor_get(const nb_tensor *t, size_t i)
{
	if (!t || i >= t->numel)
		return NAN;
	switch (t->dtype) {
	case NB_F32: return ((const float *)t->data)[i];
	case NB_F64: return ((const double *)t->data)[i];
	case NB_I64: return (double)((const int64_t *)t->data)[i];
	case NB_BOOL: return ((const uint8_t *)t->data)[i];
	}
	return NAN;
}

/* v as an int64_t: truncated, clamped, NaN as 0 (a plain cast of a
 * value out of range is undefined behaviour). */
static int64_t to_i64(double v)
{
	if (isnan(v))
		return 0;
	if (v >= 0x1p63)
		return INT64_MAX;
	if (v < -0x1p63)
		return INT64_MIN;
	return (int64_t)v;
}

void nb_tensor_set(nb_tensor *t, size_t i, double v)
{
	if (!t || i >= t->numel)
		return;
	switch (t->dtype) {
	case NB_F32: ((float *)t->data)[i] = (float)v; break;
	case NB_F64: ((double *)t->data)[i] = v; break;
	case NB_I64: ((int64_t *)t->data)[i] = to_i64(v); break;
	/* As PyTorch's bool(): true for any nonzero value, NaN included. */
	case NB_BOOL: ((uint8_t *)t->data)[i] = v != 0; break;
	}
}

double nb_tensor_item(const nb_tensor *t)
{
	return t && t->numel == 1 ? nb_tensor_get(t, 0) : NAN;
}

nb_status nb_tensor_copy(nb_tensor *dst, const nb_tensor *src)
{
	char a[96], b[96];
	if (!dst || !src)
		return nb__set_error(NB_EINVAL, "copy: tensor is NULL");
	if (dst->dtype != src->dtype || dst->numel != src->numel)
		return nb__set_error(NB_ESHAPE,
		    "copy: %s %s into %s %s", nb_dtype_name(src->dtype),
		    nb_shape_str(src->ndim, src->shape, a, sizeof a),
		    nb_dtype_name(dst->dtype),
		    nb_shape_str(dst->ndim, dst->shape, b, sizeof b));
	memmove(dst->data, src->data, nb__nbytes(src));
	return NB_OK;
}

nb_status nb_tensor_fill(nb_tensor *t, double v)
{
	if (!t)
		return nb__set_error(NB_EINVAL, "fill: tensor is NULL");
	if (t->dtype == NB_F32) {
		float *p = t->data;
		for (size_t i = 0; i < t->numel; i++)
			p[i] = (float)v;
	} else if (t->dtype == NB_F64) {
		double *p = t->data;
		for (size_t i = 0; i < t->numel; i++)
			p[i] = v;
	} else if (t->dtype == NB_I64) {
		int64_t *p = t->data, k = to_i64(v);
		for (size_t i = 0; i < t->numel; i++)
			p[i] = k;
	} else {
		memset(t->data, v != 0, t->numel);
	}
	return NB_OK;
}

nb_status nb_tensor_set_requires_grad(nb_tensor *t, bool on)
{
	if (!t)
		return nb__set_error(NB_EINVAL, "requires_grad: tensor is NULL");
	/* Results made with grad mode off have no node, but the op
	 * decided for them all the same. */
	if (t->node)
		return nb__set_error(NB_ESTATE,
		    "requires_grad: cannot be set on the result of op '%s'",
		    t->node->op->name);
	if (t->flags & NB_T_OP_RESULT)
		return nb__set_error(NB_ESTATE, "requires_grad: cannot be set "
		                     "on the result of an op");
	if (on && !nb__is_float(t->dtype))
		return nb__set_error(NB_EDTYPE,
		    "requires_grad: a %s tensor cannot require grad",
		    nb_dtype_name(t->dtype));
	if (on)
		t->flags |= NB_T_REQUIRES_GRAD;
	else
		t->flags &= ~NB_T_REQUIRES_GRAD;
	return NB_OK;
}

bool nb_tensor_requires_grad(const nb_tensor *t)
{
	return t && (t->flags & NB_T_REQUIRES_GRAD);
}

nb_tensor *nb_tensor_grad(const nb_tensor *t)
{
	return t ? t->grad : NULL;
}

void nb_tensor_zero_grad(nb_tensor *t)
{
	if (t && t->grad)
		memset(t->grad->data, 0, nb__nbytes(t->grad));
}

const char *nb_tensor_name(const nb_tensor *t)
{
	return t ? t->name : NULL;
}

void nb__tensor_acc(nb_tensor *t, const nb_tensor *u)
{
	if (t->dtype == NB_F32) {
		float *a = t->data;
		const float *b = u->data;
		for (size_t i = 0; i < t->numel; i++)
			a[i] += b[i];
	} else {
		double *a = t->data;
		const double *b = u->data;
		for (size_t i = 0; i < t->numel; i++)
			a[i] += b[i];
	}
}

bool nb__all_finite(const nb_tensor *t)
{
	if (t->dtype == NB_F32) {
		const float *p = t->data;
		for (size_t i = 0; i < t->numel; i++)
			if (!isfinite(p[i]))
				return false;
	} else if (t->dtype == NB_F64) {
		const double *p = t->data;
		for (size_t i = 0; i < t->numel; i++)
			if (!isfinite(p[i]))
				return false;
	}
	return true;
}
