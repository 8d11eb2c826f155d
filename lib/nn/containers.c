/*
 * containers.c - modules that hold other modules: residual (x + f(x)),
 * the module list and the module dict (PyTorch's nn.ModuleList and
 * nn.ModuleDict, which hold children but have no forward).  The
 * sequential container is in layers.c.
 */
#include <stdio.h>
#include "internal.h"

/* ---- residual ---- */

static nb_tensor *residual_forward(nb_module *m, nb_graph *g, nb_tensor *x)
{
	size_t n = nb_module_child_count(m);
	if (!n) {
		nb_graph_fail(g, NB_EINVAL, "residual '%s': the block has no "
		              "layers (x + f(x) needs an f)", nb_module_name(m));
		return NULL;
	}
	nb_tensor *y = x;
	for (size_t i = 0; y && i < n; i++)
		y = nb_module_forward(nb_module_child(m, i), g, y);
	if (!y)
		return NULL;
	int nx = nb_tensor_ndim(x), ny = nb_tensor_ndim(y);
	if (nx != ny || memcmp(nb_tensor_shape(x), nb_tensor_shape(y),
	                       (size_t)nx * sizeof(int64_t))) {
		char a[96], b[96];
		nb_shape_str(nx, nb_tensor_shape(x), a, sizeof a);
		nb_shape_str(ny, nb_tensor_shape(y), b, sizeof b);
		nb_graph_fail(g, NB_ESHAPE, "residual '%s': its layers change "
		              "the shape %s to %s, and x + f(x) needs the same "
		              "shape", nb_module_name(m), a, b);
		return NULL;
	}
	return nb_add(g, x, y);
}

static const nb_module_class residual_class = {
	.type = "residual", .forward = residual_forward,
};

nb_module *nb_residual_new(const char *name)
{
	return nb_module_new(&residual_class, name, NULL);
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
