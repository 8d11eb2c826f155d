/*
 * nabla/dot.h - the graph (tape) as Graphviz DOT, with a gradient-health
 * view.
 *
 * What is drawn.  One node per op on the tape (the op's name and its
 * attributes that differ from the defaults), one node per leaf tensor
 * (its name, shape and dtype) and one per output (a result no later op
 * consumes, such as the loss).  The tensors between ops are the edges,
 * labelled with their shape, written in data-flow order (the tape's).
 * Leaves are styled by role:
 *   parameter  a persistent tensor that requires grad (a weight),
 *   constant   a leaf that takes no gradient and is a scalar, or is only
 *              fed to inputs an op declares `any_dtype` (running
 *              statistics and other buffers),
 *   input      any other leaf (a batch, a target).
 * A legend explains the styles; the title says training or eval mode.
 * Ops whose inputs are named running_* (batch_norm) say whether they
 * hold running statistics; absent optional inputs are noted ("no bias").
 *
 * Health view (opts.health, after nb_backward): every tensor node and
 * edge is coloured by the L2 norm of its gradient on a log scale, from
 * blue (vanishing, below opts.vanish) through cyan, green and yellow to
 * red (exploding, above opts.explode); grey where there is no gradient,
 * magenta for NaN or infinity.  Intermediate gradients are only there
 * if the graph retains them (nb_graph_set_retain_grads, on by default;
 * off, the edges between ops say "no gradient" and only leaves are
 * coloured).  Ops get the colour of their result's
 * gradient as a border.  Parameters also show ||grad|| and
 * ||grad|| / ||w||.  Activations (kind NB_KIND_ACTIVATION) show, from
 * nb_activation_stats(), the percentage of saturated outputs (bounded
 * ops: within 1% of the range from out_lo or out_hi) or of zeros
 * (unbounded ops), of dead units, and the outputs' standard deviation.
 *
 * Large graphs.  Ops are grouped into nested clusters by scope
 * (nb_graph_scope_push: cluster "cluster_<path>" labelled with the
 * path).  opts.collapse draws consecutive sibling scopes whose op
 * sequences (names and attributes) are identical once, labelled "xN".
 * opts.max_depth draws clusters down to that scope depth; each scope
 * one level deeper becomes one summary node (its ops, counted).
 *
 * Every name (ops, tensors, scopes, user-registered ones) is escaped:
 * any byte string gives valid DOT; bytes that are not valid UTF-8 and
 * control characters are shown as '?', newlines as line breaks.
 */
#ifndef NABLA_DOT_H
#define NABLA_DOT_H

#include <stdio.h>
#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_dot_opts {
	const char *title;  /* first line of the graph's label; NULL: none */
	bool legend;        /* draw the legend (default true) */
	bool clusters;      /* group ops by scope (default true) */
	bool edge_shapes;   /* label edges with the tensor's shape (true) */
	bool lr;            /* lay out left to right (default: top down) */
	/* The health view. */
	bool health;        /* colour by gradient norms (default false) */
	double vanish;      /* ||grad|| below: vanishing, blue (1e-6) */
	double explode;     /* ||grad|| above: exploding, red (1e2) */
	/* Large graphs. */
	bool collapse;      /* repeated consecutive scopes as one "xN" */
	int max_depth;      /* deepest scope drawn as a cluster; -1: all */
} nb_dot_opts;

/* The defaults above. */
nb_dot_opts nb_dot_defaults(void);

/*
 * Writes g's tape as one DOT digraph to f (opened for writing by the
 * caller, not closed).  g is only read: call it after forward, or after
 * nb_backward for the health view (gradients are those of the last
 * backward pass).  o NULL: the defaults.  Returns NB_OK, NB_EINVAL (g or
 * f NULL, not 0 < vanish < explode < infinity), NB_ENOMEM, or NB_EIO
 * when writing fails; the message is in nb_last_error().
 */
nb_status nb_graph_write_dot(const nb_graph *g, FILE *f,
                             const nb_dot_opts *o);

/* The same, into the file at path (created or truncated).  NB_EIO when
 * it cannot be opened or written. */
nb_status nb_graph_save_dot(const nb_graph *g, const char *path,
                            const nb_dot_opts *o);

#ifdef __cplusplus
}
#endif
#endif
