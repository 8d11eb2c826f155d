/*
 * dot_internal.h - what dot.c (structure: leaves, collapse, units,
 * clusters, edges) and dot_style.c (escaping, labels, colours, the
 * health statistics) share.  Private.
 */
#ifndef NB_DOT_INTERNAL_H
#define NB_DOT_INTERNAL_H

#include <stdio.h>
#include "internal.h"

enum dot_role { DOT_PARAM, DOT_INPUT, DOT_CONST, DOT_OUTPUT };

/* A scope prefix: the first len bytes of a scope path on the tape. */
typedef struct dot_span {
	const char *s;
	size_t len;
} dot_span;

typedef struct dot_leaf {
	const nb_tensor *t;
	size_t first;       /* first consumer */
	int slot;           /* and the input it is there */
	int role;           /* enum dot_role */
	bool only_buffers;  /* only fed to buffer inputs (NB_ROLE_BUFFER) */
	bool visible;       /* some drawn node consumes it */
	bool absorbed;      /* drawn inside a summary node */
	long unit;          /* the one unit consuming it; -1 none, -2 several */
	long beside;        /* its first drawn consumer (unit), drawn level */
	int cluster;        /* where drawn, -1 top level (-3 while unknown) */
} dot_leaf;

/* Consecutive runs of sibling scopes doing the same: tape [a, b). */
typedef struct dot_group {
	size_t a, b;
	int count;
	dot_span first, last; /* scope prefixes of the first and last run */
} dot_group;

typedef struct dot_cluster {
	dot_span path;
	int parent;   /* -1: top level */
	int group;    /* the collapsed group it stands for, or -1 */
} dot_cluster;

/* A scope deeper than max_depth, drawn as one node. */
typedef struct dot_summary {
	dot_span path;
	size_t first; /* its first node on the tape */
	int cluster;
	int group;
} dot_summary;

typedef struct dot_edge {
	long su, du;
	const nb_tensor *t;
} dot_edge;

typedef struct dot {
	const nb_graph *g;
	FILE *f;
	nb_dot_opts o;
	size_t n;             /* nodes on the tape */
	long *unit;           /* node -> drawn unit: a node, or n + summary */
	int *hider;           /* node -> the group hiding it, or -1 */
	size_t *rep;          /* node -> its representative (itself if shown) */
	bool *consumed;       /* node's output is an input of a later node */
	int *ucluster;        /* unit -> cluster (-1: top level) */
	dot_leaf *leaves;
	size_t n_leaves, cap_leaves;
	bool *leaf_done;      /* printed already */
	size_t *lhash;        /* open addressing, leaf index + 1 */
	size_t lhash_cap;
	dot_edge *eset;       /* remapped edges printed, open addressing */
	size_t eset_cap;
	dot_group *groups;
	size_t n_groups, cap_groups;
	dot_cluster *clusters;
	size_t n_clusters, cap_clusters;
	dot_summary *sums;
	size_t n_sums, cap_sums;
} dot;

/* How dot_puts escapes: inside "...", inside an HTML-like <label>, or
 * inside a "..." tooltip (which Graphviz 2.42 unescapes twice). */
enum dot_esc { DOT_QUOTED, DOT_HTML, DOT_TOOLTIP };

/* Writes the first n bytes of s escaped: any bytes give valid DOT. */
void nb__dot_puts(dot *d, const char *s, size_t n, int esc);

void nb__dot_header(dot *d);
void nb__dot_legend(dot *d);
void nb__dot_cluster_label(dot *d, dot_span path, int group);
void nb__dot_op_node(dot *d, size_t i, const char *indent);
void nb__dot_summary_node(dot *d, size_t k, const char *indent);
/* fallback (fb_len bytes) is shown when t has no name. */
void nb__dot_tensor_node(dot *d, const char *id, const nb_tensor *t,
                         int role, const char *fallback, size_t fb_len,
                         const char *indent);
/* The name of op's input k ("" past its definitions), *len bytes. */
const char *nb__dot_slot_name(const nb_op *op, int k, size_t *len);
/* An edge carrying t; from_op: t is an op's result (label its shape). */
void nb__dot_edge_stmt(dot *d, const char *src, const char *dst,
                       const nb_tensor *t, bool from_op);

#endif
