/*
 * bad_nograd.c - a broken plugin for tests/test_plugin.sh: it registers
 * an op without a backward and without NB_OP_NO_GRAD, which nabla
 * refuses; nb_plugin_init returns that refusal.
 */
#include <nabla/nabla.h>

static const nb_input_def in[] = {{.name = "input"}};

static nb_status copy_forward(nb_op_ctx *c)
{
	return nb_tensor_copy(c->out, c->in[0]);
}

static const nb_op op = {
	.version = NB_OP_VERSION,
	.name = "bad_nograd",
	.kind = NB_KIND_CUSTOM,
	.doc = "an identity that forgot its backward",
	.inputs = in,
	.n_inputs = 1,
	.forward = copy_forward,
};

NB_PLUGIN_INIT
{
	return nb_op_register(&op);
}
