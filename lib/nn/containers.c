/*
 * containers.c - modules that hold other modules: residual (x + f(x),
 * or proj(x) + f(x)),
 * the module list and the module dict (PyTorch's nn.ModuleList and
 * nn.ModuleDict, which hold children but have no forward).  The
 * sequential container is in layers.c.
 */
#include <stdio.h>
#include "internal.h"

/* ---- residual ---- */

/* The projection of the shortcut (one of the children, or NULL). */
typedef struct residual_state {
	nb_module *proj;
} residual_state;

/* y = s(x) + f(x): f the children but the projection, in order; s the
 * projection, or the identity. */
static nb_tensor *residual_forward(nb_module *m, nb_graph *g, nb_tensor *x)
{
	const residual_state *st = nb_module_state(m);
	size_t n = nb_module_child_count(m);
	if (n == (st->proj ? 1u : 0u)) {
		nb_graph_fail(g, NB_EINVAL, "residual '%s': the block has no "
		              "layers (x + f(x) needs an f)", nb_module_name(m));
		return NULL;
	}
	nb_tensor *y = x;
	for (size_t i = 0; y && i < n; i++)
		if (nb_module_child(m, i) != st->proj)
			y = nb_module_forward(nb_module_child(m, i), g, y);
	nb_tensor *s = st->proj && y ? nb_module_forward(st->proj, g, x) : x;
	if (!y || !s)
		return NULL;
	int ns = nb_tensor_ndim(s), ny = nb_tensor_ndim(y);
	if (ns != ny || memcmp(nb_tensor_shape(s), nb_tensor_shape(y),
	                       (size_t)ns * sizeof(int64_t))) {
		char a[96], b[96];
		nb_shape_str(ns, nb_tensor_shape(s), a, sizeof a);
		nb_shape_str(ny, nb_tensor_shape(y), b, sizeof b);
		nb_graph_fail(g, NB_ESHAPE, "residual '%s': its layers change "
		              "the shape %s to %s, and x + f(x) needs the same "
		              "shape%s", nb_module_name(m), a, b, st->proj ? ""
		              : " (or a projection of x: "
		                "nb_residual_set_projection)");
		return NULL;
	}
	return nb_add(g, s, y);
}

static const nb_module_class residual_class = {
	.type = "residual", .forward = residual_forward, .free_state = nb__free,
};

nb_module *nb_residual_new(const char *name)
{
	residual_state *st = nb__calloc(1, sizeof *st);
	if (!st) {
		nb__set_error(NB_ENOMEM, "residual: out of memory");
		return NULL;
	}
	return nb_module_new(&residual_class, name, st);
}

nb_status nb_residual_set_projection(nb_module *res, nb_module *proj)
{
	residual_state *st = nb__module_class(res) == &residual_class
	                     ? nb_module_state(res) : NULL;
	if (!st || !proj || st->proj) {
		nb_status code = nb__set_error(NB_EINVAL, "residual: %s",
		    !res || !proj ? "block or projection is NULL"
		    : !st ? "not a residual block"
		    : "the block has a projection already");
		if (proj && !nb_module_parent(proj))
			nb_module_free(proj);
		return code;
	}
	nb_status code = nb_module_add(res, proj); /* steals proj */
	if (!code)
		st->proj = proj;
	return code;
}

/* ---- module list and dict: children, no forward ---- */

static nb_tensor *no_forward(nb_module *m, nb_graph *g, nb_tensor *x)
{
	(void)x;
	nb_graph_fail(g, NB_EINVAL, "%s '%s' has no forward: it only holds "
	              "modules (run its children: nb_module_child, "
	              "nb_module_child_named)", nb_module_type(m),
	              nb_module_name(m));
	return NULL;
}

static int no_forward_multi(nb_module *m, nb_graph *g, int n_in,
                            nb_tensor *const *in, int cap, nb_tensor **out)
{
	(void)n_in, (void)in, (void)cap, (void)out;
	no_forward(m, g, NULL);
	return -1;
}

static const nb_module_class list_class = {
	.type = "module_list", .forward = no_forward,
	.forward_multi = no_forward_multi,
};

static const nb_module_class dict_class = {
	.type = "module_dict", .forward = no_forward,
	.forward_multi = no_forward_multi,
};

nb_module *nb_module_list_new(const char *name)
{
	return nb_module_new(&list_class, name, NULL);
}

nb_module *nb_module_dict_new(const char *name)
{
	return nb_module_new(&dict_class, name, NULL);
}

nb_status nb_module_list_append(nb_module *list, nb_module *child)
{
	char idx[32];
	nb_status st;
	if (!list || !child || nb__module_class(list) != &list_class ||
	    nb_module_parent(child)) {
		st = nb__set_error(NB_EINVAL, "module list: %s",
		                   !list || !child ? "list or child is NULL"
		                   : nb_module_parent(child)
		                   ? "the child already has a parent"
		                   : "not a module list");
		if (child && !nb_module_parent(child))
			nb_module_free(child);
		return st;
	}
	snprintf(idx, sizeof idx, "%zu", nb_module_child_count(list));
	if ((st = nb__module_rename(child, idx))) {
		nb_module_free(child);
		return st;
	}
	return nb_module_add(list, child);
}
