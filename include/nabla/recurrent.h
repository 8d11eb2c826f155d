/*
 * nabla/recurrent.h - recurrent cells (ops) and layers (modules) with
 * PyTorch 1.13's semantics, gate order and parameter names
 * (doc/sequence.md).
 *
 * Cells.  One time step for a batch, inputs as PyTorch's functional
 * cells: x [B, I], h [B, H] (LSTM also c [B, H]), w_ih [G*H, I],
 * w_hh [G*H, H], b_ih and b_hh [G*H] (each may be NULL: no bias), with
 * G = 1 (RNN), 4 (LSTM: gates i, f, g, o) or 3 (GRU: r, z, n).  All
 * gates are one GEMM per operand and the elementwise part one fused
 * pass; backward is exact from the saved gate activations.  The step
 * variants take gx = x W_ih^T + b_ih [B, G*H] instead of x, w_ih and
 * b_ih, so that a layer computes the input gates of every time step in
 * one GEMM.  As in ops.h: the graph comes first; the result is a new
 * graph tensor, or NULL on error (recorded on the graph); a NULL input
 * keeps the graph's first error.  The cells take batched (2-D) inputs
 * only; the sequence ops below also unbatched ones.
 */
#ifndef NABLA_RECURRENT_H
#define NABLA_RECURRENT_H

#include "model.h"

#ifdef __cplusplus
extern "C" {
#endif

/* h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), act tanh, or relu when
 * relu (torch.rnn_tanh_cell / torch.rnn_relu_cell). */
nb_tensor *nb_rnn_cell(nb_graph *g, nb_tensor *x, nb_tensor *h,
                       nb_tensor *w_ih, nb_tensor *w_hh, nb_tensor *b_ih,
                       nb_tensor *b_hh, bool relu);
/* torch.lstm_cell: returns h' and stores c' in *c_out (may be NULL;
 * untouched on error). */
nb_tensor *nb_lstm_cell(nb_graph *g, nb_tensor *x, nb_tensor *h,
                        nb_tensor *c, nb_tensor *w_ih, nb_tensor *w_hh,
                        nb_tensor *b_ih, nb_tensor *b_hh,
                        nb_tensor **c_out);
/* torch.gru_cell: n = tanh(x W_in^T + b_in + r (h W_hn^T + b_hn)),
 * h' = (1 - z) n + z h. */
nb_tensor *nb_gru_cell(nb_graph *g, nb_tensor *x, nb_tensor *h,
                       nb_tensor *w_ih, nb_tensor *w_hh, nb_tensor *b_ih,
                       nb_tensor *b_hh);
/* The same cells given gx = x W_ih^T + b_ih [B, G*H]. */
nb_tensor *nb_rnn_step(nb_graph *g, nb_tensor *gx, nb_tensor *h,
                       nb_tensor *w_hh, nb_tensor *b_hh, bool relu);
nb_tensor *nb_lstm_step(nb_graph *g, nb_tensor *gx, nb_tensor *h,
                        nb_tensor *c, nb_tensor *w_hh, nb_tensor *b_hh,
                        nb_tensor **c_out);
nb_tensor *nb_gru_step(nb_graph *g, nb_tensor *gx, nb_tensor *h,
                       nb_tensor *w_hh, nb_tensor *b_hh);

/*
 * The cells over a whole sequence, given the input gates of every step
 * gx = x W_ih^T + b_ih [T, B, G*H] and the initial states h0 (c0)
 * [B, H]: returns the state of every step [T, B, H] and stores the last
 * in *h_n (and *c_n); each may be NULL.  Unbatched: gx [T, G*H], states
 * [H], result [T, H] (the bytes of a batch of one).  reverse reads the sequence from
 * its end (y[t] is then the state after x[t..T-1]).  One op for all T
 * steps: the recurrent weight's gradient is one GEMM over T*B rows.
 */
nb_tensor *nb_rnn_seq(nb_graph *g, nb_tensor *gx, nb_tensor *h0,
                      nb_tensor *w_hh, nb_tensor *b_hh, bool relu,
                      bool reverse, nb_tensor **h_n);
nb_tensor *nb_lstm_seq(nb_graph *g, nb_tensor *gx, nb_tensor *h0,
                       nb_tensor *c0, nb_tensor *w_hh, nb_tensor *b_hh,
                       bool reverse, nb_tensor **h_n, nb_tensor **c_n);
nb_tensor *nb_gru_seq(nb_graph *g, nb_tensor *gx, nb_tensor *h0,
                      nb_tensor *w_hh, nb_tensor *b_hh, bool reverse,
                      nb_tensor **h_n);

/* ---- layers: nn.RNN, nn.LSTM, nn.GRU ---- */

/* Options of the recurrent layers, PyTorch's constructor arguments. */
typedef struct nb_rnn_opts {
	int64_t num_layers; /* stacked layers, >= 1 */
	bool bias;          /* b_ih and b_hh in every layer */
	bool batch_first;   /* input and output [B, T, F], not [T, B, F] */
	double dropout;     /* on the outputs of every layer but the last,
	                       in training, in [0, 1) */
	bool bidirectional; /* a second direction reading backwards */
	bool relu;          /* nb_rnn_new only: nonlinearity='relu' */
} nb_rnn_opts;

/* PyTorch's defaults: one layer, with biases. */
#define NB_RNN_DEFAULTS                                                      \
	((nb_rnn_opts){.num_layers = 1, .bias = true})

/*
 * A recurrent layer of dtype dt for inputs of input_size features and a
 * state of hidden_size, with options o (copied; NULL: NB_RNN_DEFAULTS).
 * Parameters, per layer k and direction (suffix "" or "_reverse"),
 * in PyTorch's order and with its names and shapes:
 *   weight_ih_l{k}  [G*H, input_size (k = 0) or D*H]   NB_PARAM_WEIGHT
 *   weight_hh_l{k}  [G*H, H]                           NB_PARAM_WEIGHT
 *   bias_ih_l{k}, bias_hh_l{k}  [G*H]                  NB_PARAM_BIAS
 * (D = 2 when bidirectional), each uniform in [-1/sqrt(H), 1/sqrt(H)]
 * drawn from rng in that order, as PyTorch's reset_parameters.
 *
 * nb_module_forward_multi(m, g, n, in, ...) takes (input, h0) (LSTM
 * (input, h0, c0)); an omitted or NULL state is zeros.  input is
 * [T, B, input_size] ([B, T, input_size] with batch_first); states
 * are [num_layers * D, B, H].  Results: output [T, B, D*H] ([B, T, D*H]
 * with batch_first), h_n (and LSTM c_n) [num_layers * D, B, H].
 * Unbatched, as PyTorch: input [T, input_size] (batch_first does not
 * apply), states, h_n and c_n [num_layers * D, H], output [T, D*H];
 * nothing is copied to add or drop a batch axis.
 * nb_module_forward returns the output alone, so the layer chains in a
 * sequential model.  Stateful (nb_module_set_stateful), a forward given
 * no state starts from the previous forward's h_n (and c_n), copied out
 * of its graph, when its batch size and dtype match (else from zeros),
 * and keeps its own h_n for the next: truncated backpropagation through
 * time; nb_module_reset_state forgets it.
 * Errors name the layer and the shapes (NB_ESHAPE).
 * NULL on error (NB_EINVAL: sizes below 1, a bad option, a NULL rng,
 * a dtype not float) with nb_last_error().
 */
nb_module *nb_rnn_new(const char *name, int64_t input_size,
                      int64_t hidden_size, const nb_rnn_opts *o,
                      nb_dtype dt, nb_rng *rng);
nb_module *nb_lstm_new(const char *name, int64_t input_size,
                       int64_t hidden_size, const nb_rnn_opts *o,
                       nb_dtype dt, nb_rng *rng);
nb_module *nb_gru_new(const char *name, int64_t input_size,
                      int64_t hidden_size, const nb_rnn_opts *o,
                      nb_dtype dt, nb_rng *rng);

#ifdef __cplusplus
}
#endif
#endif
