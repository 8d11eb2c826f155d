/*
 * recurrent_seq.c - a recurrent cell run over a whole sequence in one
 * op: rnn_seq, lstm_seq and gru_seq take the input gates of every time
 * step, gx = x W_ih^T + b_ih [T, B, G*H] (one GEMM over T*B rows, made
 * by the layer), the initial state h0 [B, H] (LSTM also c0), W_hh and
 * b_hh, and return the states of every step y [T, B, H] and the last
 * ones h_n [B, H] (LSTM also c_n).  reverse=1 reads the sequence from
 * the end (a bidirectional layer's second direction): y[t] is then the
 * state after reading x[t..T-1].
 *
 * Why one op: per step the forward is one GEMM h W_hh^T and the fused
 * elementwise pass of recurrent.c (same kernels, same formulas), but the
 * backward, after walking the steps backwards for dh (one GEMM D_t W_hh
 * each), forms dW_hh = sum_t D_t^T h_{t-1} as one GEMM over all T*B
 * rows instead of T thin ones, and writes dgx in place; no step needs a
 * slice, a stack or a tape node of its own (doc/sequence.md has the
 * measurements).
 */
#include "recurrent_kernels.h"
#include "packed_gemm.h"

typedef struct seq_attrs {
	int nonlinearity; /* rnn_seq: 0 tanh, 1 relu */
	bool reverse;
} seq_attrs;

static const nb_attr_def rnn_seq_defs[] = {
	{.name = "nonlinearity", .type = NB_ATTR_ENUM,
	 .offset = offsetof(seq_attrs, nonlinearity), .def = 0,
	 .choices = "tanh|relu", .doc = "the activation of the new state"},
	{.name = "reverse", .type = NB_ATTR_BOOL,
	 .offset = offsetof(seq_attrs, reverse), .def = 0,
	 .doc = "read the sequence from its end"},
};

typedef enum seq_kind { SEQ_RNN, SEQ_LSTM, SEQ_GRU } seq_kind;

static seq_kind kind_of(const nb_op *op);

/*
 * The step's product c [B, n] += a [B, k] op(W_hh): float32 with more
 * than one step through W_hh packed once for the whole sequence
 * (packed_gemm.c: BLAS would pack it again at every step), else BLAS.
 * tb: op(W_hh) = W_hh^T (the forward's h W_hh^T), else W_hh itself (the
 * backward's D_t W_hh).
 */
typedef struct step_gemm {
	nb_dtype dt;
	bool tb;
	int64_t n, k;
	const void *w; /* W_hh [G*H, H] */
	float *packed; /* or NULL: BLAS */
} step_gemm;

/* NB_ENOMEM only when the scratch for packing cannot be had. */
static nb_status step_gemm_init(nb_op_ctx *c, step_gemm *sg, nb_dtype dt,
                                bool tb, int64_t n, int64_t k,
                                const nb_tensor *w, int64_t steps)
{
	*sg = (step_gemm){.dt = dt, .tb = tb, .n = n, .k = k, .w = w->data};
	if (dt != NB_F32 || steps < 2 || n == 0 || k == 0 ||
	    !nb__packed_sgemm_ok())
		return NB_OK;
	sg->packed = nb__op_temp(c, nb__packed_size(k, n) * sizeof(float));
	if (!sg->packed)
		return NB_ENOMEM;
	/* W_hh [G*H, H]: its rows are op's columns when transposed */
	nb__pack_b(tb, k, n, w->data, w->shape[1], sg->packed);
	return NB_OK;
}

static void step_gemm_run(const step_gemm *sg, int64_t m, const void *a,
                          void *out, int64_t ldc)
{
	if (sg->packed)
		nb__packed_sgemm(m, sg->n, sg->k, a, sg->k, sg->packed, out,
		                 ldc);
	else
		nb__gemm(sg->dt, false, sg->tb, m, sg->n, sg->k, 1.0, a, sg->k,
		         sg->w, sg->tb ? sg->k : sg->n, 1.0, out, ldc);
}

static void step_gemm_done(nb_op_ctx *c, step_gemm *sg)
{
	if (sg->packed)
		nb__op_temp_free(c, sg->packed);
}

static const int seq_gates[] = {1, 4, 3};

/* Inputs: gx, h0, [c0,] w_hh, b_hh. */
typedef struct seq_in {
	const nb_tensor *gx, *h0, *c0, *w_hh, *b_hh;
	int i_h0, i_c0, i_w, i_b;
} seq_in;

static seq_in inputs_of(const nb_op_ctx *c, seq_kind k)
{
	seq_in s = {.gx = c->in[0], .h0 = c->in[1], .i_h0 = 1, .i_c0 = -1};
	int i = 2;
	if (k == SEQ_LSTM) {
		s.c0 = c->in[2];
		s.i_c0 = 2;
		i = 3;
	}
	s.w_hh = c->in[i];
	s.i_w = i;
	s.b_hh = i + 1 < c->n_in ? c->in[i + 1] : NULL;
	s.i_b = i + 1;
	return s;
}

/* The batch and hidden sizes: h0 [B, H], or [H] unbatched (B = 1: the
 * same bytes, so the kernels need not know). */
static void dims_of(const nb_tensor *h0, size_t *B, size_t *H)
{
	bool one = h0->ndim == 1;
	*B = one ? 1 : (size_t)h0->shape[0];
	*H = (size_t)h0->shape[one ? 0 : 1];
}

/* Batched: gx [T, B, GH], states [B, H], y [T, B, H].  Unbatched, as
 * PyTorch's modules take a sequence without a batch axis: gx [T, GH],
 * states [H], y [T, H]; the layout is that of B = 1, so the layers add
 * and drop no axis (nabla has no views: that would be a copy). */
static nb_status seq_shape(nb_op_ctx *c, nb_result_def *res)
{
	seq_kind k = kind_of(c->op);
	seq_in s = inputs_of(c, k);
	if (s.h0->ndim != 2 && s.h0->ndim != 1)
		return nb_op_fail(c, NB_ESHAPE, "h0 must be [batch, hidden] "
		                  "or [hidden] (unbatched), got rank %d",
		                  s.h0->ndim);
	int nd = s.h0->ndim; /* of the states; gx and y have one more */
	size_t ub, uh;
	dims_of(s.h0, &ub, &uh);
	int64_t B = (int64_t)ub, H = (int64_t)uh;
	int64_t GH = seq_gates[k] * H;
	if (s.c0 && (s.c0->ndim != nd || s.c0->shape[nd - 1] != H ||
	             (nd == 2 && s.c0->shape[0] != B)))
		return nb_op_fail(c, NB_ESHAPE, "c0 must have h0's shape");
	if (nd == 1 && (s.gx->ndim != 2 || s.gx->shape[1] != GH))
		return nb_op_fail(c, NB_ESHAPE, "input gates must be [seq, "
		                  "%lld] (%d x hidden; unbatched, as h0)",
		                  (long long)GH, seq_gates[k]);
	if (nd == 2 && (s.gx->ndim != 3 || s.gx->shape[1] != B ||
	                s.gx->shape[2] != GH))
		return nb_op_fail(c, NB_ESHAPE, "input gates must be [seq, "
		                  "%lld, %lld] (batch, %d x hidden)",
		                  (long long)B, (long long)GH, seq_gates[k]);
	if (s.w_hh->ndim != 2 || s.w_hh->shape[0] != GH ||
	    s.w_hh->shape[1] != H)
		return nb_op_fail(c, NB_ESHAPE, "weight_hh must be [%lld, %lld]",
		                  (long long)GH, (long long)H);
	if (s.b_hh && (s.b_hh->ndim != 1 || s.b_hh->shape[0] != GH))
		return nb_op_fail(c, NB_ESHAPE, "bias_hh must be [%lld]",
		                  (long long)GH);
	res[0].ndim = nd + 1;
	res[0].shape[0] = s.gx->shape[0];
	res[0].shape[1] = B;
	res[0].shape[nd] = H;
	for (int i = 1; i < c->n_out; i++) {
		res[i].ndim = nd;
		res[i].shape[0] = B;
		res[i].shape[nd - 1] = H;
	}
	return NB_OK;
}

/* What forward saves: per step the activations [T, B, S] (LSTM i f g o,
 * GRU r z n b_n; RNN uses y) and, LSTM only, tanh(c_t) and c_t. */
typedef struct seq_saved {
	char *act, *tc, *cs;
	size_t ls;
} seq_saved;

/* The time index of processing step i. */
static int64_t t_of(int64_t i, int64_t T, bool rev)
{
	return rev ? T - 1 - i : i;
}

static nb_status seq_forward(nb_op_ctx *c)
{
	seq_kind k = kind_of(c->op);
	const seq_attrs *at = c->attrs;
	seq_in in = inputs_of(c, k);
	nb_dtype dt = in.h0->dtype;
	size_t es = nb_dtype_size(dt);
	int64_t T = in.gx->shape[0];
	size_t B, H;
	dims_of(in.h0, &B, &H);
	size_t GH = (size_t)seq_gates[k] * H, BH = B * H;
	size_t ls = k == SEQ_RNN ? H : 4 * H;
	size_t nact = k == SEQ_RNN ? 0 : (size_t)T * B * ls * es;
	size_t nc = k == SEQ_LSTM ? (size_t)T * BH * es : 0;
	/* every step writes its activations (and c_t, tanh c_t) whole */
	char *blk = nb__op_save_raw(c, 64 + nact + 2 * nc);
	if (!blk)
		return NB_ENOMEM;
	seq_saved *sv = (seq_saved *)blk;
	sv->act = blk + 64;
	sv->tc = sv->act + nact;
	sv->cs = sv->tc + nc;
	sv->ls = ls;
	char *y = c->outs[0]->data;
	const char *gx = in.gx->data, *bh = in.b_hh ? in.b_hh->data : NULL;
	const char *h = in.h0->data, *cp = in.c0 ? in.c0->data : NULL;
	step_gemm sg;
	if (step_gemm_init(c, &sg, dt, true, (int64_t)GH, (int64_t)H, in.w_hh,
	                   T))
		return NB_ENOMEM;
	for (int64_t i = 0; i < T; i++) {
		int64_t t = t_of(i, T, at->reverse);
		char *yt = y + (size_t)t * BH * es;
		const char *gt = gx + (size_t)t * B * GH * es;
		char *s = k == SEQ_RNN ? yt : sv->act + (size_t)t * B * ls * es;
		if (k == SEQ_GRU)
			CALL(dt, rows_init, (void *)s, ls, NULL, 0, (const void *)bh,
			     NULL, B, GH);
		else
			CALL(dt, rows_init, (void *)s, ls, (const void *)gt, GH,
			     (const void *)bh, NULL, B, GH);
		step_gemm_run(&sg, (int64_t)B, h, s, (int64_t)ls);
		if (k == SEQ_RNN) {
			CALL(dt, rnn_fwd, (void *)s, (void *)yt, BH,
			     at->nonlinearity);
		} else if (k == SEQ_GRU) {
			CALL(dt, gru_fwd, (const void *)gt, GH, (void *)s,
			     (const void *)h, (void *)yt, B, H);
		} else {
			char *ct = sv->cs + (size_t)t * BH * es;
			CALL(dt, lstm_fwd, (void *)s, (const void *)cp, (void *)yt,
			     (void *)ct, (void *)(sv->tc + (size_t)t * BH * es),
			     B, H);
			cp = ct;
		}
		h = yt;
	}
	step_gemm_done(c, &sg);
	/* T = 0: the last states are the initial ones */
	memcpy(c->outs[1]->data, h, BH * es);
	if (k == SEQ_LSTM)
		memcpy(c->outs[2]->data, cp, BH * es);
	return NB_OK;
}

/* The state before processing step i (h0 or c0 at the first). */
static const char *prev_of(const char *seq, const char *init, int64_t i,
                           int64_t T, bool rev, size_t bytes)
{
	if (i == 0)
		return init;
	return seq + (size_t)t_of(i - 1, T, rev) * bytes;
}

/*
 * Walks the steps backwards: dh (dc) holds dL/dh_t (dL/dc_t) of the
 * step being undone, D [T, B, G*H] gets the input side's
 * pre-activation gradients, Dr the recurrent side's (the same buffer
 * except for GRU).  Leaves dL/dh0 (dL/dc0) in dh (dc).
 */
static nb_status seq_walk(nb_op_ctx *c, seq_kind k, const seq_in *in,
                          char *D, char *Dr, char **dh, char **dc,
                          bool need_h0, void *gb)
{
	const seq_attrs *at = c->attrs;
	const seq_saved *sv = c->saved;
	nb_dtype dt = in->h0->dtype;
	size_t es = nb_dtype_size(dt);
	int64_t T = in->gx->shape[0];
	size_t B, H;
	dims_of(in->h0, &B, &H);
	size_t GH = (size_t)seq_gates[k] * H, BH = B * H;
	const char *y = c->outs[0]->data, *gy = c->gouts[0]->data;
	int64_t sh[2] = {(int64_t)B, (int64_t)H};
	nb_tensor *n1 = nb_op_scratch(c, dt, 2, sh);
	nb_tensor *n2 = k == SEQ_LSTM ? nb_op_scratch(c, dt, 2, sh) : n1;
	if (!n1 || !n2)
		return NB_ENOMEM;
	char *ndh = n1->data, *ndc = n2->data;
	step_gemm sg;
	if (step_gemm_init(c, &sg, dt, false, (int64_t)H, (int64_t)GH,
	                   in->w_hh, T - !need_h0))
		return NB_ENOMEM;
	for (int64_t i = T - 1; i >= 0; i--) {
		int64_t t = t_of(i, T, at->reverse);
		size_t off = (size_t)t * BH * es;
		const char *act = k == SEQ_RNN ? y + off
		                  : sv->act + (size_t)t * B * sv->ls * es;
		const char *hp = prev_of(y, in->h0->data, i, T, at->reverse,
		                         BH * es);
		char *Dt = D + (size_t)t * B * GH * es;
		char *Drt = Dr + (size_t)t * B * GH * es;
		CALL(dt, add, (void *)*dh, (const void *)(gy + off), BH);
		memset(ndh, 0, BH * es);
		if (k == SEQ_RNN) {
			CALL(dt, rnn_bwd, (const void *)act, (const void *)*dh,
			     (void *)Dt, BH, at->nonlinearity);
		} else if (k == SEQ_GRU) {
			CALL(dt, gru_bwd, (const void *)act, (const void *)hp,
			     (const void *)*dh, (void *)Dt, (void *)Drt,
			     (void *)ndh, B, H);
		} else {
			const char *cp = prev_of(sv->cs, in->c0->data, i, T,
			                         at->reverse, BH * es);
			memset(ndc, 0, BH * es);
			CALL(dt, lstm_bwd, (const void *)act, (const void *)cp,
			     (const void *)(sv->tc + off), (const void *)*dh,
			     (const void *)*dc, (void *)Dt, (void *)ndc, B, H);
			char *sw = *dc;
			*dc = ndc;
			ndc = sw;
		}
		/* gb += D_t's column sums, while D_t is in cache */
		if (gb)
			CALL(dt, colsum, gb, (const void *)Drt, B, GH);
		/* dh_{prev} += D_t W_hh (h0's only if it needs a gradient) */
		if (i > 0 || need_h0)
			step_gemm_run(&sg, (int64_t)B, Drt, ndh, (int64_t)H);
		char *sw = *dh;
		*dh = ndh;
		ndh = sw;
	}
	step_gemm_done(c, &sg);
	return NB_OK;
}

/* gin[i] += v, or = v for a fresh gradient (NB_OP_GRAD_FRESH) */
static void add_or_set(const nb_op_ctx *c, nb_tensor *const *gin, int i,
                       const char *v, size_t n)
{
	if (i < 0 || !gin[i])
		return;
	if (c->fresh & (1u << i))
		memcpy(gin[i]->data, v, n * nb_dtype_size(gin[i]->dtype));
	else
		CALL(gin[i]->dtype, add, gin[i]->data, (const void *)v, n);
}

static nb_status seq_backward(nb_op_ctx *c, const nb_tensor *gout,
                              nb_tensor *const *gin)
{
	(void)gout;
	seq_kind k = kind_of(c->op);
	const seq_attrs *at = c->attrs;
	seq_in in = inputs_of(c, k);
	nb_dtype dt = in.h0->dtype;
	size_t es = nb_dtype_size(dt);
	int64_t T = in.gx->shape[0];
	size_t B, H;
	dims_of(in.h0, &B, &H);
	size_t GH = (size_t)seq_gates[k] * H, BH = B * H;
	int64_t sh3[3] = {T, (int64_t)B, (int64_t)GH}, sh2[2] = {(int64_t)B,
	                                                       (int64_t)H};
	/* dgx is D itself: written straight into a fresh gradient */
	bool fresh_x = gin[0] && (c->fresh & 1u);
	nb_tensor *tD = fresh_x ? gin[0] : nb_op_scratch(c, dt, 3, sh3);
	nb_tensor *tDr = k == SEQ_GRU ? nb_op_scratch(c, dt, 3, sh3) : tD;
	nb_tensor *tdh = nb_op_scratch(c, dt, 2, sh2);
	nb_tensor *tdc = k == SEQ_LSTM ? nb_op_scratch(c, dt, 2, sh2) : tdh;
	if (!tD || !tDr || !tdh || !tdc)
		return NB_ENOMEM;
	char *dh = tdh->data, *dc = tdc->data;
	memcpy(dh, c->gouts[1]->data, BH * es);
	if (k == SEQ_LSTM)
		memcpy(dc, c->gouts[2]->data, BH * es);
	nb_tensor *gb = in.b_hh ? gin[in.i_b] : NULL;
	if (gb && (c->fresh & (1u << in.i_b)))
		memset(gb->data, 0, GH * es);
	nb_status st = seq_walk(c, k, &in, tD->data, tDr->data, &dh, &dc,
	                        gin[in.i_h0] != NULL, gb ? gb->data : NULL);
	if (st)
		return st;
	add_or_set(c, gin, in.i_h0, dh, BH);
	if (k == SEQ_LSTM)
		add_or_set(c, gin, in.i_c0, dc, BH);
	if (gin[0] && !fresh_x)
		CALL(dt, add, gin[0]->data, (const void *)tD->data,
		     (size_t)T * B * GH);
	nb_tensor *gw = gin[in.i_w];
	if (!gw)
		return NB_OK;
	double beta = c->fresh & (1u << in.i_w) ? 0.0 : 1.0;
	if (T == 0) {
		if (beta == 0)
			memset(gw->data, 0, GH * H * es);
		return NB_OK;
	}
	/* dW_hh += sum_t D_t^T h_{prev(t)}: the first processed step's
	 * previous state is h0, the others' are rows of y shifted by one
	 * step, so two GEMMs cover all of them. */
	const char *Dr = tDr->data, *y = c->outs[0]->data;
	size_t row = B * GH * es, yrow = BH * es;
	int64_t first = t_of(0, T, at->reverse);
	nb__gemm(dt, true, false, (int64_t)GH, (int64_t)H, (int64_t)B, 1.0,
	         Dr + (size_t)first * row, (int64_t)GH, in.h0->data,
	         (int64_t)H, beta, gw->data, (int64_t)H);
	if (T > 1) {
		/* forward: D_1..D_{T-1} with y_0..y_{T-2};
		 * reverse: D_0..D_{T-2} with y_1..y_{T-1} */
		const char *Dp = at->reverse ? Dr : Dr + row;
		const char *yp = at->reverse ? y + yrow : y;
		nb__gemm(dt, true, false, (int64_t)GH, (int64_t)H,
		         (int64_t)((size_t)(T - 1) * B), 1.0, Dp, (int64_t)GH,
		         yp, (int64_t)H, 1.0, gw->data, (int64_t)H);
	}
	return NB_OK;
}

/* ---- the descriptors ---- */

static const nb_input_def rnn_seq_inputs[] = {
	{.name = "gates_ih", .doc = "[seq, batch, G*hidden] ([seq, G*hidden] "
	 "unbatched): x W_ih^T + b_ih"},
	{.name = "h0", .doc = "[batch, hidden] ([hidden] unbatched)"},
	{.name = "weight_hh", .role = NB_ROLE_PARAM, .doc = "[G*hidden, hidden]"},
	{.name = "bias_hh", .flags = NB_IN_OPTIONAL, .role = NB_ROLE_PARAM,
	 .doc = "[G*hidden]"},
};
static const nb_input_def lstm_seq_inputs[] = {
	{.name = "gates_ih", .doc = "[seq, batch, 4*hidden] ([seq, 4*hidden] "
	 "unbatched): x W_ih^T + b_ih"},
	{.name = "h0", .doc = "[batch, hidden] ([hidden] unbatched)"},
	{.name = "c0", .doc = "[batch, hidden] ([hidden] unbatched)"},
	{.name = "weight_hh", .role = NB_ROLE_PARAM, .doc = "[4*hidden, hidden]"},
	{.name = "bias_hh", .flags = NB_IN_OPTIONAL, .role = NB_ROLE_PARAM,
	 .doc = "[4*hidden]"},
};

static const nb_op_test rnn_seq_test = {
	.cases = "[4,2,5] [2,5] [5,5] [5]; [3,2,4] [2,4] [4,4] [4]-|reverse=1; "
	         "[4,3,5] [3,5] [5,5] [5]|nonlinearity=relu; [1,2,3] [2,3] "
	         "[3,3] [3]; [4,3] [3] [3,3] [3]-|reverse=1",
	.lo = -1, .hi = 1,
};
static const nb_op_test lstm_seq_test = {
	.cases = "[4,2,20] [2,5] [2,5] [20,5] [20]; "
	         "[3,2,8] [2,2] [2,2] [8,2] [8]-|reverse=1; "
	         "[4,12] [3] [3] [12,3] [12]",
	.lo = -1, .hi = 1,
};
static const nb_op_test gru_seq_test = {
	.cases = "[4,2,15] [2,5] [15,5] [15]; "
	         "[3,2,6] [2,2] [6,2] [6]-|reverse=1; "
	         "[4,9] [3] [9,3] [9]",
	.lo = -1, .hi = 1,
};

#define SEQ_OP(NAME, DOC, INPUTS, NIN, NOUT, NATTRS, TEST)                   \
	static const nb_op NAME##_op = {                                     \
		.version = NB_OP_VERSION, .name = #NAME,                     \
		.kind = NB_KIND_LINALG, .doc = DOC, .inputs = INPUTS,        \
		.n_inputs = NIN, .n_outputs = NOUT,                          \
		.attrs = rnn_seq_defs + 2 - NATTRS, .n_attrs = NATTRS,       \
		.attrs_size = sizeof(seq_attrs),                             \
		.flags = NB_OP_WRITES_OUTPUT | NB_OP_GRAD_FRESH,             \
		.shape = seq_shape,                                          \
		.forward = seq_forward, .backward = seq_backward,            \
		.test = &TEST,                                               \
	}

SEQ_OP(rnn_seq, "rnn_cell over a sequence given its input gates: states "
       "[T, B, H] and the last", rnn_seq_inputs, 4, 2, 2, rnn_seq_test);
SEQ_OP(lstm_seq, "lstm_cell over a sequence given its input gates: states "
       "[T, B, H], the last h and c", lstm_seq_inputs, 5, 3, 1,
       lstm_seq_test);
SEQ_OP(gru_seq, "gru_cell over a sequence given its input gates: states "
       "[T, B, H] and the last", rnn_seq_inputs, 4, 2, 1, gru_seq_test);

static seq_kind kind_of(const nb_op *op)
{
	return op == &lstm_seq_op ? SEQ_LSTM
	     : op == &gru_seq_op ? SEQ_GRU : SEQ_RNN;
}

const nb_op *const nb__recurrent_seq_ops[] = {
	&rnn_seq_op, &lstm_seq_op, &gru_seq_op, NULL,
};

/* ---- typed wrappers ---- */

static nb_tensor *seq_apply(nb_graph *g, const nb_op *op, int n,
                            nb_tensor *const *in, const seq_attrs *a,
                            nb_tensor **h_n, nb_tensor **c_n)
{
	nb_tensor *outs[3];
	int want = op == &lstm_seq_op ? 3 : 2;
	if (nb_apply_multi(g, op, n, in, a, outs, want) < 0)
		return NULL;
	if (h_n)
		*h_n = outs[1];
	if (c_n && want == 3)
		*c_n = outs[2];
	return outs[0];
}

nb_tensor *nb_rnn_seq(nb_graph *g, nb_tensor *gx, nb_tensor *h0,
                      nb_tensor *w_hh, nb_tensor *b_hh, bool relu,
                      bool reverse, nb_tensor **h_n)
{
	seq_attrs a = {.nonlinearity = relu, .reverse = reverse};
	return seq_apply(g, &rnn_seq_op, 4,
	                 (nb_tensor *[]){gx, h0, w_hh, b_hh}, &a, h_n, NULL);
}

nb_tensor *nb_lstm_seq(nb_graph *g, nb_tensor *gx, nb_tensor *h0,
                       nb_tensor *c0, nb_tensor *w_hh, nb_tensor *b_hh,
                       bool reverse, nb_tensor **h_n, nb_tensor **c_n)
{
	seq_attrs a = {.reverse = reverse};
	return seq_apply(g, &lstm_seq_op, 5,
	                 (nb_tensor *[]){gx, h0, c0, w_hh, b_hh}, &a, h_n,
	                 c_n);
}

nb_tensor *nb_gru_seq(nb_graph *g, nb_tensor *gx, nb_tensor *h0,
                      nb_tensor *w_hh, nb_tensor *b_hh, bool reverse,
                      nb_tensor **h_n)
{
	seq_attrs a = {.reverse = reverse};
	return seq_apply(g, &gru_seq_op, 4,
	                 (nb_tensor *[]){gx, h0, w_hh, b_hh}, &a, h_n, NULL);
}
