/*
 * recurrent.c - fused recurrent cells: rnn_cell (tanh or relu),
 * lstm_cell and gru_cell with the inputs of PyTorch's functional cells
 * (torch.rnn_tanh_cell, torch.lstm_cell, torch.gru_cell), and the step
 * variants rnn_step, lstm_step and gru_step that take the input gates
 * already computed (gx = x W_ih^T + b_ih, done by a layer for all time
 * steps at once as one GEMM), so that a step is one GEMM h W_hh^T and
 * one fused elementwise pass.
 *
 * Gates are stacked as PyTorch stacks them in its weights: G blocks of
 * H columns, LSTM (i, f, g, o), GRU (r, z, n), plain RNN one block.
 * Every gate of a batch is one GEMM per operand (nb__gemm, CBLAS when
 * found); the elementwise part runs in one pass and saves what backward
 * needs (the gate activations), so backward is exact, not recomputed.
 *
 * Forward, with a = x W_ih^T + b_ih (the input gates) and
 * b = h W_hh^T + b_hh (the recurrent gates):
 *   RNN   h' = act(a + b)                               act tanh or relu
 *   LSTM  i, f, o = sigmoid(a + b) of blocks 0, 1, 3;  g = tanh(a + b)_2
 *         c' = f c + i g;  h' = o tanh(c')
 *   GRU   r = sigmoid(a_r + b_r); z = sigmoid(a_z + b_z)
 *         n = tanh(a_n + r b_n);  h' = (1 - z) n + z h
 * Backward (chain rule through the same formulas; PyTorch's
 * _thnn_fused_lstm_cell_backward and _thnn_fused_gru_cell_backward):
 *   RNN   dpre = dh' (1 - h'^2)  (tanh), dh' [h' > 0]  (relu)
 *   LSTM  dc = dc' + dh' o (1 - tanh(c')^2)
 *         di = dc g i(1-i), df = dc c f(1-f), dg = dc i (1-g^2),
 *         do = dh' tanh(c') o(1-o);  dc_prev = dc f
 *   GRU   dn = dh' (1-z) (1-n^2);  dz = dh' (h-n) z(1-z);
 *         dr = dn b_n r(1-r);  dh_prev = dh' z (+ the GEMM below)
 *         the input side gets (dr, dz, dn), the recurrent side
 *         (dr, dz, dn r)
 * then for each side with pre-activation gradient D:
 *   dh += D W_hh,  dW_hh += D^T h,  db_hh += colsum(D)   (recurrent)
 *   dx += D W_ih,  dW_ih += D^T x,  db_ih += colsum(D)   (input)
 * and the step variants add the input side's D into dgx.
 */
#include "recurrent_kernels.h"

/* What distinguishes the three cells. */
typedef enum cell_kind { CELL_RNN, CELL_LSTM, CELL_GRU } cell_kind;

/* Where each input of an op is (-1: the op has none). */
typedef struct cell_layout {
	cell_kind kind;
	int gates;                   /* G: 1, 4 or 3 */
	int x, gx, h, c, w_ih, w_hh, b_ih, b_hh;
} cell_layout;

typedef struct rnn_attrs {
	int nonlinearity; /* 0 tanh, 1 relu */
} rnn_attrs;

static const nb_attr_def rnn_defs[] = {
	{.name = "nonlinearity", .type = NB_ATTR_ENUM,
	 .offset = offsetof(rnn_attrs, nonlinearity), .def = 0,
	 .choices = "tanh|relu", .doc = "the activation of the new state"},
};

static const cell_layout rnn_cell_l = {CELL_RNN, 1, 0, -1, 1, -1, 2, 3, 4, 5};
static const cell_layout lstm_cell_l = {CELL_LSTM, 4, 0, -1, 1, 2, 3, 4, 5, 6};
static const cell_layout gru_cell_l = {CELL_GRU, 3, 0, -1, 1, -1, 2, 3, 4, 5};
static const cell_layout rnn_step_l = {CELL_RNN, 1, -1, 0, 1, -1, -1, 2, -1, 3};
static const cell_layout lstm_step_l = {CELL_LSTM, 4, -1, 0, 1, 2, -1, 3, -1,
                                        4};
static const cell_layout gru_step_l = {CELL_GRU, 3, -1, 0, 1, -1, -1, 2, -1,
                                       3};

/* The op's layout: each op's name is not read, its input table is. */
static const cell_layout *layout_of(const nb_op *op);

static const nb_tensor *in_at(const nb_op_ctx *c, int i)
{
	return i < 0 || i >= c->n_in ? NULL : c->in[i];
}

static bool is_shape2(const nb_tensor *t, int64_t a, int64_t b)
{
	return t->ndim == 2 && t->shape[0] == a && t->shape[1] == b;
}

static nb_status cell_shape(nb_op_ctx *c, nb_result_def *res)
{
	const cell_layout *L = layout_of(c->op);
	const nb_tensor *h = in_at(c, L->h), *w_hh = in_at(c, L->w_hh);
	const nb_tensor *st = in_at(c, L->c), *w_ih = in_at(c, L->w_ih);
	const nb_tensor *x = in_at(c, L->x), *gx = in_at(c, L->gx);
	const nb_tensor *b_ih = in_at(c, L->b_ih), *b_hh = in_at(c, L->b_hh);
	if (h->ndim != 2)
		return nb_op_fail(c, NB_ESHAPE, "hidden state must be "
		                  "[batch, hidden]");
	int64_t B = h->shape[0], H = h->shape[1], GH = L->gates * H;
	if (st && !is_shape2(st, B, H))
		return nb_op_fail(c, NB_ESHAPE, "cell state must be [%lld, "
		                  "%lld] as the hidden state", (long long)B,
		                  (long long)H);
	if (x && (x->ndim != 2 || x->shape[0] != B))
		return nb_op_fail(c, NB_ESHAPE, "input must be [%lld, "
		                  "input_size]", (long long)B);
	if (gx && !is_shape2(gx, B, GH))
		return nb_op_fail(c, NB_ESHAPE, "input gates must be [%lld, "
		                  "%lld] (batch, %d x hidden)", (long long)B,
		                  (long long)GH, L->gates);
	if (w_ih && !is_shape2(w_ih, GH, x->shape[1]))
		return nb_op_fail(c, NB_ESHAPE, "weight_ih must be [%lld, %lld] "
		                  "(%d x hidden, input_size)", (long long)GH,
		                  (long long)x->shape[1], L->gates);
	if (!is_shape2(w_hh, GH, H))
		return nb_op_fail(c, NB_ESHAPE, "weight_hh must be [%lld, %lld] "
		                  "(%d x hidden, hidden)", (long long)GH,
		                  (long long)H, L->gates);
	if ((b_ih && (b_ih->ndim != 1 || b_ih->shape[0] != GH)) ||
	    (b_hh && (b_hh->ndim != 1 || b_hh->shape[0] != GH)))
		return nb_op_fail(c, NB_ESHAPE, "biases must be [%lld]",
		                  (long long)GH);
	for (int k = 0; k < c->n_out; k++) {
		res[k].ndim = 2;
		res[k].shape[0] = B;
		res[k].shape[1] = H;
	}
	return NB_OK;
}

/* ---- forward ---- */

/*
 * Fills s ([B, ls] with ls >= G H; the first G H columns) with
 * b_hh + h W_hh^T, plus, for LSTM and RNN, the input gates (gx, or
 * b_ih + x W_ih^T), so that one buffer holds the pre-activations.  GRU
 * keeps the input side apart: *a (lda) points at it, in gx or in a
 * scratch of [B, 3H].
 */
static nb_status gates(nb_op_ctx *c, const cell_layout *L, void *s,
                       size_t ls, const void **a, size_t *lda)
{
	const nb_tensor *h = in_at(c, L->h), *w_hh = in_at(c, L->w_hh);
	const nb_tensor *gx = in_at(c, L->gx), *x = in_at(c, L->x);
	const nb_tensor *w_ih = in_at(c, L->w_ih), *b_ih = in_at(c, L->b_ih);
	const nb_tensor *b_hh = in_at(c, L->b_hh);
	nb_dtype dt = h->dtype;
	size_t B = (size_t)h->shape[0], H = (size_t)h->shape[1];
	size_t GH = (size_t)L->gates * H;
	const void *bh = b_hh ? b_hh->data : NULL;
	const void *bi = b_ih ? b_ih->data : NULL;
	bool apart = L->kind == CELL_GRU;
	if (apart) {
		CALL(dt, rows_init, s, ls, NULL, 0, bh, NULL, B, GH);
		if (gx) {
			*a = gx->data;
			*lda = GH;
		} else {
			nb_tensor *t = nb_op_scratch(c, dt, 2, (int64_t[]){
			    (int64_t)B, (int64_t)GH});
			if (!t)
				return NB_ENOMEM;
			CALL(dt, rows_init, t->data, GH, NULL, 0, bi, NULL, B,
			     GH);
			nb__gemm(dt, false, true, (int64_t)B, (int64_t)GH,
			         x->shape[1], 1.0, x->data, x->shape[1],
			         w_ih->data, x->shape[1], 1.0, t->data,
			         (int64_t)GH);
			*a = t->data;
			*lda = GH;
		}
	} else if (gx) {
		CALL(dt, rows_init, s, ls, gx->data, GH, bh, NULL, B, GH);
	} else {
		CALL(dt, rows_init, s, ls, NULL, 0, bi, bh, B, GH);
		nb__gemm(dt, false, true, (int64_t)B, (int64_t)GH, x->shape[1],
		         1.0, x->data, x->shape[1], w_ih->data, x->shape[1],
		         1.0, s, (int64_t)ls);
	}
	nb__gemm(dt, false, true, (int64_t)B, (int64_t)GH, (int64_t)H, 1.0,
	         h->data, (int64_t)H, w_hh->data, (int64_t)H, 1.0, s,
	         (int64_t)ls);
	return NB_OK;
}

/* What forward saves: the gate activations [B, S] (S = H, 4H, 4H for
 * RNN's pre-activations unused, LSTM's i f g o, GRU's r z n b_n) and
 * LSTM's tanh(c') [B, H]. */
typedef struct cell_saved {
	void *act;
	void *tc;
} cell_saved;

static size_t saved_cols(const cell_layout *L, size_t H)
{
	return L->kind == CELL_RNN ? H : 4 * H;
}

static nb_status cell_forward(nb_op_ctx *c)
{
	const cell_layout *L = layout_of(c->op);
	const nb_tensor *h = in_at(c, L->h);
	nb_dtype dt = h->dtype;
	size_t B = (size_t)h->shape[0], H = (size_t)h->shape[1];
	size_t es = nb_dtype_size(dt), ls = saved_cols(L, H);
	/* one block (nb_op_save keeps one per node): the header, the
	 * activations, LSTM's tanh(c') */
	size_t hdr = 64, nact = L->kind == CELL_RNN ? 0 : B * ls * es;
	size_t ntc = L->kind == CELL_LSTM ? B * H * es : 0;
	char *blk = nb_op_save(c, hdr + nact + ntc);
	if (!blk)
		return NB_ENOMEM;
	cell_saved *sv = (cell_saved *)blk;
	void *s = L->kind == CELL_RNN ? c->out->data : blk + hdr;
	sv->tc = blk + hdr + nact;
	const void *a = NULL;
	size_t lda = 0;
	nb_status st = gates(c, L, s, ls, &a, &lda);
	if (st)
		return st;
	if (L->kind == CELL_RNN) {
		const rnn_attrs *at = c->attrs;
		CALL(dt, rnn_fwd, s, c->out->data, B * H, at->nonlinearity);
	} else if (L->kind == CELL_LSTM) {
		CALL(dt, lstm_fwd, s, in_at(c, L->c)->data, c->outs[0]->data,
		     c->outs[1]->data, sv->tc, B, H);
	} else {
		CALL(dt, gru_fwd, a, lda, s, h->data, c->out->data, B, H);
	}
	sv->act = s;
	return NB_OK;
}

/* ---- backward ---- */

/* dW += D^T v, db += colsum(D), dv += D W for one side of the cell. */
static void side_grads(nb_dtype dt, const void *D, size_t B, size_t GH,
                       const nb_tensor *v, const nb_tensor *w,
                       nb_tensor *gv, nb_tensor *gw, nb_tensor *gb)
{
	int64_t k = w->shape[1];
	if (gv)
		nb__gemm(dt, false, false, (int64_t)B, k, (int64_t)GH, 1.0, D,
		         (int64_t)GH, w->data, k, 1.0, gv->data, k);
	if (gw)
		nb__gemm(dt, true, false, (int64_t)GH, k, (int64_t)B, 1.0, D,
		         (int64_t)GH, v->data, k, 1.0, gw->data, k);
	if (gb)
		CALL(dt, colsum, gb->data, D, B, GH);
}

/* The gradient of input i, or NULL (no such input, or none needed). */
static nb_tensor *g_at(nb_tensor *const *gin, int i)
{
	return i < 0 ? NULL : gin[i];
}

static nb_status cell_backward(nb_op_ctx *c, const nb_tensor *gout,
                               nb_tensor *const *gin)
{
	const cell_layout *L = layout_of(c->op);
	const nb_tensor *h = in_at(c, L->h);
	const cell_saved *sv = c->saved;
	nb_dtype dt = h->dtype;
	size_t B = (size_t)h->shape[0], H = (size_t)h->shape[1];
	size_t GH = (size_t)L->gates * H;
	int64_t sh[2] = {(int64_t)B, (int64_t)GH};
	nb_tensor *dx = nb_op_scratch(c, dt, 2, sh);
	nb_tensor *dr = L->kind == CELL_GRU ? nb_op_scratch(c, dt, 2, sh) : dx;
	if (!dx || !dr)
		return NB_ENOMEM;
	nb_tensor *gh = g_at(gin, L->h);
	if (L->kind == CELL_RNN) {
		const rnn_attrs *at = c->attrs;
		CALL(dt, rnn_bwd, sv->act, gout->data, dx->data, B * H,
		     at->nonlinearity);
	} else if (L->kind == CELL_LSTM) {
		nb_tensor *gc = g_at(gin, L->c);
		CALL(dt, lstm_bwd, sv->act, in_at(c, L->c)->data, sv->tc,
		     gout->data, c->gouts[1]->data, dx->data,
		     gc ? gc->data : NULL, B, H);
	} else {
		CALL(dt, gru_bwd, sv->act, h->data, gout->data, dx->data,
		     dr->data, gh ? gh->data : NULL, B, H);
	}
	side_grads(dt, dr->data, B, GH, h, in_at(c, L->w_hh), gh,
	           g_at(gin, L->w_hh), g_at(gin, L->b_hh));
	if (L->gx >= 0) {
		if (gin[L->gx])
			CALL(dt, add, gin[L->gx]->data, dx->data, B * GH);
	} else {
		side_grads(dt, dx->data, B, GH, in_at(c, L->x),
		           in_at(c, L->w_ih), gin[L->x],
		           g_at(gin, L->w_ih), g_at(gin, L->b_ih));
	}
	return NB_OK;
}

/* ---- the descriptors ---- */

#define IN_DATA(nm, d) {.name = nm, .doc = d}
#define IN_PARAM(nm, d) {.name = nm, .role = NB_ROLE_PARAM, .doc = d}
#define IN_BIAS(nm)                                                          \
	{.name = nm, .flags = NB_IN_OPTIONAL, .role = NB_ROLE_PARAM,         \
	 .doc = "[G*hidden]"}

static const nb_input_def rnn_cell_inputs[] = {
	IN_DATA("input", "[batch, input_size]"),
	IN_DATA("hx", "[batch, hidden]"),
	IN_PARAM("weight_ih", "[G*hidden, input_size]"),
	IN_PARAM("weight_hh", "[G*hidden, hidden]"),
	IN_BIAS("bias_ih"), IN_BIAS("bias_hh"),
};
static const nb_input_def lstm_cell_inputs[] = {
	IN_DATA("input", "[batch, input_size]"),
	IN_DATA("hx", "[batch, hidden]"),
	IN_DATA("cx", "[batch, hidden]"),
	IN_PARAM("weight_ih", "[4*hidden, input_size]"),
	IN_PARAM("weight_hh", "[4*hidden, hidden]"),
	IN_BIAS("bias_ih"), IN_BIAS("bias_hh"),
};
static const nb_input_def step_inputs[] = {
	IN_DATA("gates_ih", "[batch, G*hidden]: x W_ih^T + b_ih"),
	IN_DATA("hx", "[batch, hidden]"),
	IN_PARAM("weight_hh", "[G*hidden, hidden]"),
	IN_BIAS("bias_hh"),
};
static const nb_input_def lstm_step_inputs[] = {
	IN_DATA("gates_ih", "[batch, 4*hidden]: x W_ih^T + b_ih"),
	IN_DATA("hx", "[batch, hidden]"),
	IN_DATA("cx", "[batch, hidden]"),
	IN_PARAM("weight_hh", "[4*hidden, hidden]"),
	IN_BIAS("bias_hh"),
};

static const nb_op_test rnn_cell_test = {
	.cases = "[3,4] [3,5] [5,4] [5,5] [5] [5]; "
	         "[2,3] [2,4] [4,3] [4,4] [4]- [4]-; "
	         "[3,4] [3,5] [5,4] [5,5] [5] [5]|nonlinearity=relu",
	.lo = -1, .hi = 1,
};
static const nb_op_test lstm_cell_test = {
	.cases = "[3,4] [3,5] [3,5] [20,4] [20,5] [20] [20]; "
	         "[2,3] [2,2] [2,2] [8,3] [8,2] [8]- [8]-",
	.lo = -1, .hi = 1,
};
static const nb_op_test gru_cell_test = {
	.cases = "[3,4] [3,5] [15,4] [15,5] [15] [15]; "
	         "[2,3] [2,2] [6,3] [6,2] [6]- [6]-",
	.lo = -1, .hi = 1,
};
static const nb_op_test rnn_step_test = {
	.cases = "[3,5] [3,5] [5,5] [5]; [2,4] [2,4] [4,4] [4]-; "
	         "[3,5] [3,5] [5,5] [5]|nonlinearity=relu",
	.lo = -1, .hi = 1,
};
static const nb_op_test lstm_step_test = {
	.cases = "[3,20] [3,5] [3,5] [20,5] [20]; [2,8] [2,2] [2,2] [8,2] [8]-",
	.lo = -1, .hi = 1,
};
static const nb_op_test gru_step_test = {
	.cases = "[3,15] [3,5] [15,5] [15]; [2,6] [2,2] [6,2] [6]-",
	.lo = -1, .hi = 1,
};

#define CELL_OP(NAME, DOC, INPUTS, NIN, NOUT, ATTRS, NATTRS, TEST)           \
	static const nb_op NAME##_op = {                                     \
		.version = NB_OP_VERSION, .name = #NAME,                     \
		.kind = NB_KIND_LINALG, .doc = DOC, .inputs = INPUTS,        \
		.n_inputs = NIN, .n_outputs = NOUT, .attrs = ATTRS,          \
		.n_attrs = NATTRS,                                           \
		.attrs_size = NATTRS ? sizeof(rnn_attrs) : 0,                \
		.flags = NB_OP_WRITES_OUTPUT, .shape = cell_shape,           \
		.forward = cell_forward, .backward = cell_backward,          \
		.test = &TEST,                                               \
	}

CELL_OP(rnn_cell, "Elman RNN cell: act(x W_ih^T + b_ih + h W_hh^T + b_hh) "
        "(torch.rnn_tanh_cell / rnn_relu_cell)", rnn_cell_inputs, 6, 1,
        rnn_defs, 1, rnn_cell_test);
CELL_OP(lstm_cell, "LSTM cell, gates i f g o, results h' and c' "
        "(torch.lstm_cell)", lstm_cell_inputs, 7, 2, NULL, 0,
        lstm_cell_test);
CELL_OP(gru_cell, "GRU cell, gates r z n, n = tanh(x W_in^T + b_in + "
        "r (h W_hn^T + b_hn)) (torch.gru_cell)", rnn_cell_inputs, 6, 1,
        NULL, 0, gru_cell_test);
CELL_OP(rnn_step, "rnn_cell given its input gates x W_ih^T + b_ih",
        step_inputs, 4, 1, rnn_defs, 1, rnn_step_test);
CELL_OP(lstm_step, "lstm_cell given its input gates x W_ih^T + b_ih",
        lstm_step_inputs, 5, 2, NULL, 0, lstm_step_test);
CELL_OP(gru_step, "gru_cell given its input gates x W_ih^T + b_ih",
        step_inputs, 4, 1, NULL, 0, gru_step_test);

static const cell_layout *layout_of(const nb_op *op)
{
	return op == &rnn_cell_op ? &rnn_cell_l
	     : op == &lstm_cell_op ? &lstm_cell_l
	     : op == &gru_cell_op ? &gru_cell_l
	     : op == &rnn_step_op ? &rnn_step_l
	     : op == &lstm_step_op ? &lstm_step_l : &gru_step_l;
}

const nb_op *const nb__recurrent_ops[] = {
	&rnn_cell_op, &lstm_cell_op, &gru_cell_op,
	&rnn_step_op, &lstm_step_op, &gru_step_op, NULL,
};

/* ---- typed wrappers ---- */

nb_tensor *nb_rnn_cell(nb_graph *g, nb_tensor *x, nb_tensor *h,
                       nb_tensor *w_ih, nb_tensor *w_hh, nb_tensor *b_ih,
                       nb_tensor *b_hh, bool relu)
{
	rnn_attrs a = {.nonlinearity = relu};
	return nb_apply(g, &rnn_cell_op, 6,
	                (nb_tensor *[]){x, h, w_ih, w_hh, b_ih, b_hh}, &a);
}

nb_tensor *nb_lstm_cell(nb_graph *g, nb_tensor *x, nb_tensor *h,
                        nb_tensor *c, nb_tensor *w_ih, nb_tensor *w_hh,
                        nb_tensor *b_ih, nb_tensor *b_hh, nb_tensor **c_out)
{
	nb_tensor *outs[2];
	if (nb_apply_multi(g, &lstm_cell_op, 7,
	                   (nb_tensor *[]){x, h, c, w_ih, w_hh, b_ih, b_hh},
	                   NULL, outs, 2) < 0)
		return NULL;
	if (c_out)
		*c_out = outs[1];
	return outs[0];
}

nb_tensor *nb_gru_cell(nb_graph *g, nb_tensor *x, nb_tensor *h,
                       nb_tensor *w_ih, nb_tensor *w_hh, nb_tensor *b_ih,
                       nb_tensor *b_hh)
{
	return nb_apply(g, &gru_cell_op, 6,
	                (nb_tensor *[]){x, h, w_ih, w_hh, b_ih, b_hh}, NULL);
}

nb_tensor *nb_rnn_step(nb_graph *g, nb_tensor *gx, nb_tensor *h,
                       nb_tensor *w_hh, nb_tensor *b_hh, bool relu)
{
	rnn_attrs a = {.nonlinearity = relu};
	return nb_apply(g, &rnn_step_op, 4, (nb_tensor *[]){gx, h, w_hh, b_hh},
	                &a);
}

nb_tensor *nb_lstm_step(nb_graph *g, nb_tensor *gx, nb_tensor *h,
                        nb_tensor *c, nb_tensor *w_hh, nb_tensor *b_hh,
                        nb_tensor **c_out)
{
	nb_tensor *outs[2];
	if (nb_apply_multi(g, &lstm_step_op, 5,
	                   (nb_tensor *[]){gx, h, c, w_hh, b_hh}, NULL, outs,
	                   2) < 0)
		return NULL;
	if (c_out)
		*c_out = outs[1];
	return outs[0];
}

nb_tensor *nb_gru_step(nb_graph *g, nb_tensor *gx, nb_tensor *h,
                       nb_tensor *w_hh, nb_tensor *b_hh)
{
	return nb_apply(g, &gru_step_op, 4, (nb_tensor *[]){gx, h, w_hh, b_hh},
	                NULL);
}
