/*
 * dot.c - the tape as Graphviz DOT, with a gradient-health view.  What
 * is drawn is described in nabla/dot.h.
 *
 * The writer makes a few passes over the tape before printing anything:
 *  1. leaves (tensors no node made) and which node outputs are consumed;
 *  2. with opts.collapse, runs of sibling scopes with identical op
 *     sequences: every node of a repeat is hidden behind the node at the
 *     same position in the first run (its representative);
 *  3. the drawn "unit" of each node: itself, its representative's unit,
 *     or, past opts.max_depth, the summary node of its scope;
 *  4. the clusters (scope prefixes) of the units and of the leaves.
 * Then it prints the clusters (nested by path) with their nodes in tape
 * order, and the edges in tape order: edge j -> i for each input of node
 * i made by node j, mapped onto units.  Edges inside a collapsed range
 * are dropped; edges remapped onto representatives or summaries are
 * de-duplicated.  The health view (colours, norms, activation and
 * parameter statistics) is in dot_health.c.
 */
#include <math.h>
#include <stdio.h>
#include "dot_internal.h"

/* ---- small helpers ---- */

static bool grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return true;
	size_t c = *cap ? *cap * 2 : 16;
	while (c < need)
		c *= 2;
	void *q = nb__realloc(*p, c * size);
	if (!q)
		return false;
	*p = q;
	*cap = c;
	return true;
}

/* Number of segments of a scope path ("" 0, "a" 1, "a.b" 2). */
static int sdepth(const char *s)
{
	int d = *s ? 1 : 0;
	for (; *s; s++)
		d += *s == '.';
	return d;
}

/* Length of the first k segments of s (all of s if it has fewer). */
static size_t plen(const char *s, int k)
{
	size_t i = 0;
	if (k <= 0)
		return 0;
	for (; s[i]; i++)
		if (s[i] == '.' && --k == 0)
			break;
	return i;
}

static bool span_eq(dot_span a, dot_span b)
{
	return a.len == b.len && !memcmp(a.s, b.s, a.len);
}

static dot_span span_of(const char *s, size_t len)
{
	return (dot_span){s, len};
}

static const char *scope(const dot *d, size_t i)
{
	return nb_graph_node_scope(d->g, i);
}

static int n_inputs(const dot *d, size_t i, nb_tensor *const **in)
{
	return nb_graph_node_inputs(d->g, i, in);
}

/* ---- pass 1: leaves and consumers ---- */

static size_t ptr_hash(const void *p)
{
	uint64_t x = (uint64_t)(uintptr_t)p;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return (size_t)x;
}

/* The leaf record of t, added on first sight; -1 on NB_ENOMEM. */
static long leaf_of(dot *d, const nb_tensor *t, size_t node, int slot)
{
	size_t h = ptr_hash(t) & (d->lhash_cap - 1);
	for (;; h = (h + 1) & (d->lhash_cap - 1)) {
		size_t k = d->lhash[h];
		if (!k)
			break;
		if (d->leaves[k - 1].t == t)
			return (long)(k - 1);
	}
	if (!grow((void **)&d->leaves, &d->cap_leaves, d->n_leaves + 1,
	          sizeof *d->leaves))
		return -1;
	dot_leaf *l = &d->leaves[d->n_leaves];
	memset(l, 0, sizeof *l);
	l->t = t;
	l->first = node;
	l->slot = slot;
	l->only_buffers = true;
	l->unit = -1;
	l->cluster = -3;
	d->lhash[h] = ++d->n_leaves;
	return (long)(d->n_leaves - 1);
}

static nb_status scan_leaves(dot *d)
{
	size_t total = 0;
	for (size_t i = 0; i < d->n; i++) {
		nb_tensor *const *in;
		total += (size_t)n_inputs(d, i, &in);
	}
	d->lhash_cap = 16;
	while (d->lhash_cap < 2 * total + 2)
		d->lhash_cap *= 2;
	d->lhash = nb__calloc(d->lhash_cap, sizeof *d->lhash);
	d->eset_cap = d->lhash_cap;
	d->eset = nb__calloc(d->eset_cap, sizeof *d->eset);
	if (!d->lhash || !d->eset)
		return NB_ENOMEM;
	for (size_t i = 0; i < d->n; i++) {
		const nb_op *op = nb_graph_node_op(d->g, i);
		nb_tensor *const *in;
		int m = n_inputs(d, i, &in);
		for (int k = 0; k < m; k++) {
			long j = in[k] ? nb_tensor_node(in[k]) : -2;
			if (j >= 0) {
				d->consumed[j] = true;
				continue;
			}
			if (j == -2)
				continue;
			long L = leaf_of(d, in[k], i, k);
			if (L < 0)
				return NB_ENOMEM;
			const nb_input_def *def = nb_op_input(op, k);
			if (!def || def->role != NB_ROLE_BUFFER)
				d->leaves[L].only_buffers = false;
		}
	}
	for (size_t L = 0; L < d->n_leaves; L++) {
		dot_leaf *l = &d->leaves[L];
		bool grad = nb_tensor_requires_grad(l->t);
		if (grad && !nb_tensor_is_graph(l->t))
			l->role = DOT_PARAM;
		else if (!grad && (l->only_buffers ||
		                   nb_tensor_numel(l->t) <= 1))
			l->role = DOT_CONST;
		else
			l->role = DOT_INPUT;
	}
	return NB_OK;
}

/* ---- pass 2: collapse repeated scopes ---- */

/* End of the run of nodes from i sharing i's scope prefix of depth dd
 * (i's scope is deeper than dd - 1). */
static size_t run_end(const dot *d, size_t i, size_t b, int dd)
{
	const char *s = scope(d, i);
	dot_span p = span_of(s, plen(s, dd));
	size_t e = i + 1;
	for (; e < b; e++) {
		const char *t = scope(d, e);
		if (sdepth(t) < dd || !span_eq(p, span_of(t, plen(t, dd))))
			break;
	}
	return e;
}

/* Whether node x (of a run whose prefix has length lx) and node y (prefix
 * ly) do the same: op, attributes, inputs present, scope below the run. */
static bool same_node(const dot *d, size_t x, size_t lx, size_t y,
                      size_t ly)
{
	const nb_op *op = nb_graph_node_op(d->g, x);
	if (op != nb_graph_node_op(d->g, y) ||
	    strcmp(scope(d, x) + lx, scope(d, y) + ly))
		return false;
	nb_tensor *const *a, *const *b;
	int na = n_inputs(d, x, &a), nb = n_inputs(d, y, &b);
	if (na != nb)
		return false;
	for (int k = 0; k < na; k++)
		if (!a[k] != !b[k])
			return false;
	char fa[256], fb[256];
	nb_attrs_format(op, nb_graph_node_attrs(d->g, x), true, fa, sizeof fa);
	nb_attrs_format(op, nb_graph_node_attrs(d->g, y), true, fb, sizeof fb);
	return !strcmp(fa, fb);
}

static bool same_run(const dot *d, size_t p, size_t q, size_t len, int dd)
{
	size_t lp = plen(scope(d, p), dd), lq = plen(scope(d, q), dd);
	for (size_t t = 0; t < len; t++)
		if (!same_node(d, p + t, lp, q + t, lq))
			return false;
	return true;
}

/*
 * Nodes a..b-1 are visible and share a scope prefix of depth dd - 1.
 * Groups the consecutive runs of child scopes (depth dd) that repeat the
 * run before them, then does the same inside the first run of each.
 */
static nb_status collapse(dot *d, size_t a, size_t b, int dd)
{
	size_t i = a;
	while (i < b) {
		if (sdepth(scope(d, i)) < dd) {
			i++;
			continue;
		}
		size_t e = run_end(d, i, b, dd), len = e - i, k = e;
		int count = 1;
		while (k < b && sdepth(scope(d, k)) >= dd &&
		       run_end(d, k, b, dd) - k == len &&
		       same_run(d, i, k, len, dd)) {
			k += len;
			count++;
		}
		if (count > 1) {
			if (!grow((void **)&d->groups, &d->cap_groups,
			          d->n_groups + 1, sizeof *d->groups))
				return NB_ENOMEM;
			const char *s0 = scope(d, i), *s1 = scope(d, k - 1);
			d->groups[d->n_groups] = (dot_group){
				.a = i, .b = k, .count = count,
				.first = span_of(s0, plen(s0, dd)),
				.last = span_of(s1, plen(s1, dd)),
			};
			for (size_t x = e; x < k; x++) {
				d->hider[x] = (int)d->n_groups;
				d->rep[x] = i + (x - i) % len;
			}
			d->n_groups++;
		}
		nb_status st = collapse(d, i, e, dd + 1);
		if (st)
			return st;
		i = k;
	}
	return NB_OK;
}

/* ---- pass 3 and 4: units, summaries and clusters ---- */

static long find_summary(dot *d, dot_span p, size_t first)
{
	for (size_t k = d->n_sums; k-- > 0;)
		if (span_eq(d->sums[k].path, p))
			return (long)k;
	if (!grow((void **)&d->sums, &d->cap_sums, d->n_sums + 1,
	          sizeof *d->sums))
		return -1;
	d->sums[d->n_sums] = (dot_summary){.path = p, .first = first,
	                                   .group = -1};
	return (long)d->n_sums++;
}

/* The cluster of path p (created with its ancestors); -1 for "", -2 on
 * NB_ENOMEM. */
static int find_cluster(dot *d, dot_span p)
{
	if (!p.len)
		return -1;
	for (size_t c = d->n_clusters; c-- > 0;)
		if (span_eq(d->clusters[c].path, p))
			return (int)c;
	size_t pl = p.len;
	while (pl > 0 && p.s[pl - 1] != '.')
		pl--;
	int parent = find_cluster(d, span_of(p.s, pl ? pl - 1 : 0));
	if (parent == -2 ||
	    !grow((void **)&d->clusters, &d->cap_clusters, d->n_clusters + 1,
	          sizeof *d->clusters))
		return -2;
	d->clusters[d->n_clusters] = (dot_cluster){.path = p,
	                                           .parent = parent,
	                                           .group = -1};
	return (int)d->n_clusters++;
}

static nb_status assign_units(dot *d)
{
	int D = d->o.max_depth;
	for (size_t i = 0; i < d->n; i++) {
		const char *s = scope(d, i);
		if (d->hider[i] >= 0) {
			d->unit[i] = d->unit[d->rep[i]];
		} else if (D >= 0 && sdepth(s) > D) {
			long k = find_summary(d, span_of(s, plen(s, D + 1)), i);
			if (k < 0)
				return NB_ENOMEM;
			d->unit[i] = (long)d->n + k;
		} else {
			d->unit[i] = (long)i;
		}
	}
	d->ucluster = nb__malloc((d->n + d->n_sums + 1) * sizeof *d->ucluster);
	if (!d->ucluster)
		return NB_ENOMEM;
	for (size_t u = 0; u < d->n + d->n_sums; u++) {
		dot_span p;
		if (u >= d->n) {
			p = d->sums[u - d->n].path;
			p.len = plen(p.s, d->o.max_depth);
		} else if (d->unit[u] == (long)u) {
			p = span_of(scope(d, u), strlen(scope(d, u)));
		} else {
			continue;
		}
		int c = d->o.clusters ? find_cluster(d, p) : -1;
		if (c == -2)
			return NB_ENOMEM;
		d->ucluster[u] = c;
		if (u >= d->n)
			d->sums[u - d->n].cluster = c;
	}
	/* Label collapsed clusters and summaries with their group. */
	for (size_t k = 0; k < d->n_groups; k++) {
		for (size_t c = 0; c < d->n_clusters; c++)
			if (span_eq(d->clusters[c].path, d->groups[k].first))
				d->clusters[c].group = (int)k;
		for (size_t s = 0; s < d->n_sums; s++)
			if (span_eq(d->sums[s].path, d->groups[k].first))
				d->sums[s].group = (int)k;
	}
	return NB_OK;
}

/* Where each leaf is drawn: in the cluster of its consumers when they
 * share one (parameters and constants), absorbed into a summary that is
 * its only consumer, or not at all when only hidden nodes use it. */
static void place_leaves(dot *d)
{
	for (size_t i = 0; i < d->n; i++) {
		nb_tensor *const *in;
		int m = n_inputs(d, i, &in);
		if (d->hider[i] >= 0)
			continue;
		for (int k = 0; k < m; k++) {
			if (!in[k] || nb_tensor_node(in[k]) >= 0)
				continue;
			dot_leaf *l = &d->leaves[leaf_of(d, in[k], i, k)];
			long u = d->unit[i];
			int c = d->ucluster[u];
			if (!l->visible)
				l->beside = u;
			l->visible = true;
			l->unit = l->unit == -1 || l->unit == u ? u : -2;
			l->cluster = l->cluster == -3 || l->cluster == c ? c
			                                                  : -1;
		}
	}
	for (size_t L = 0; L < d->n_leaves; L++) {
		dot_leaf *l = &d->leaves[L];
		if (l->role == DOT_INPUT || l->cluster < 0)
			l->cluster = -1;
		l->absorbed = l->role != DOT_INPUT && l->unit >= (long)d->n;
	}
}

/* ---- output ---- */

static void unit_id(const dot *d, long u, char *buf, size_t n)
{
	if (u >= (long)d->n)
		snprintf(buf, n, "s%ld", u - (long)d->n);
	else
		snprintf(buf, n, "n%ld", u);
}

static void emit_leaf(dot *d, size_t L, const char *ind)
{
	const dot_leaf *l = &d->leaves[L];
	char id[32];
	size_t len;
	const char *fb = nb__dot_slot_name(nb_graph_node_op(d->g, l->first),
	                                   l->slot, &len);
	snprintf(id, sizeof id, "t%zu", L);
	nb__dot_tensor_node(d, id, l->t, l->role, fb, len, ind);
}

static void emit_unit(dot *d, size_t i, const char *ind)
{
	long u = d->unit[i];
	if (u >= (long)d->n)
		nb__dot_summary_node(d, (size_t)u - d->n, ind);
	else
		nb__dot_op_node(d, i, ind);
}

static void emit_output(dot *d, size_t i, const char *ind)
{
	char id[32];
	const char *fb = nb_graph_node_op(d->g, i)->kind == NB_KIND_LOSS
	                 ? "loss" : "output";
	snprintf(id, sizeof id, "o%zu", i);
	nb__dot_tensor_node(d, id, nb_graph_node_output(d->g, i), DOT_OUTPUT,
	                    fb, strlen(fb), ind);
}

/*
 * Whether node i's result is drawn as an output: nothing consumes it,
 * and it is shown or stands for the end of a collapsed range (its
 * representative's result was consumed: by the next repeat).
 */
static bool shows_output(const dot *d, size_t i)
{
	return !d->consumed[i] && (d->hider[i] < 0 || d->consumed[d->rep[i]]);
}

/* The nodes of cluster c (-1: top level) in tape order, then its
 * child clusters. */
static void emit_cluster(dot *d, int c, int depth)
{
	char ind[40];
	int w = depth < 16 ? depth + 1 : 17;
	memset(ind, '\t', (size_t)w);
	ind[w] = '\0';
	if (c >= 0) {
		const dot_cluster *cl = &d->clusters[c];
		fprintf(d->f, "%.*ssubgraph \"cluster_", w - 1, ind);
		nb__dot_puts(d, cl->path.s, cl->path.len, DOT_QUOTED);
		fprintf(d->f, "\" {\n%slabel=\"", ind);
		nb__dot_cluster_label(d, cl->path, cl->group);
		fprintf(d->f, "\"; style=\"rounded,dashed\"; color=\"#8899aa\";"
		        " fontcolor=\"#445566\";\n");
	}
	for (size_t i = 0; i < d->n; i++) {
		nb_tensor *const *in;
		int m = n_inputs(d, i, &in);
		long u = d->unit[i];
		if (shows_output(d, i) && d->ucluster[u] == c)
			emit_output(d, i, ind);
		if (d->hider[i] >= 0)
			continue;
		for (int k = 0; k < m; k++) {
			if (!in[k] || nb_tensor_node(in[k]) >= 0)
				continue;
			size_t L = (size_t)leaf_of(d, in[k], i, k);
			const dot_leaf *l = &d->leaves[L];
			if (l->visible && !l->absorbed && l->cluster == c &&
			    !d->leaf_done[L]) {
				d->leaf_done[L] = true;
				emit_leaf(d, L, ind);
			}
		}
		bool first = u < (long)d->n
		             ? u == (long)i : d->sums[u - (long)d->n].first == i;
		if (first && d->ucluster[u] == c)
			emit_unit(d, i, ind);
	}
	/* Parameters and constants on the level of their first consumer. */
	for (size_t L = 0; L < d->n_leaves; L++) {
		const dot_leaf *l = &d->leaves[L];
		char u[32];
		if (!d->leaf_done[L] || l->cluster != c ||
		    l->role == DOT_INPUT || d->ucluster[l->beside] != c)
			continue;
		unit_id(d, l->beside, u, sizeof u);
		fprintf(d->f, "%s{rank=same; t%zu; %s;}\n", ind, L, u);
	}
	for (size_t k = 0; k < d->n_clusters; k++)
		if (d->clusters[k].parent == c)
			emit_cluster(d, (int)k, depth + 1);
	if (c >= 0)
		fprintf(d->f, "%.*s}\n", w - 1, ind);
}

/* Whether the edge (su, du, t) was drawn already; records it if not. */
static bool edge_seen(dot *d, long su, long du, const nb_tensor *t)
{
	size_t h = (ptr_hash(t) ^ (size_t)su * 0x9e3779b97f4a7c15ULL ^
	            (size_t)du * 0xc2b2ae3d27d4eb4fULL) & (d->eset_cap - 1);
	for (;; h = (h + 1) & (d->eset_cap - 1)) {
		dot_edge *e = &d->eset[h];
		if (!e->t) {
			*e = (dot_edge){su, du, t};
			return false;
		}
		if (e->su == su && e->du == du && e->t == t)
			return true;
	}
}

static bool in_group(const dot *d, int grp, long j)
{
	return grp >= 0 && j >= 0 && (size_t)j >= d->groups[grp].a &&
	       (size_t)j < d->groups[grp].b;
}

static void emit_edges(dot *d)
{
	char src[32], dst[32];
	for (size_t i = 0; i < d->n; i++) {
		nb_tensor *const *in;
		int m = n_inputs(d, i, &in);
		long du = d->unit[i];
		unit_id(d, du, dst, sizeof dst);
		for (int k = 0; k < m; k++) {
			if (!in[k])
				continue;
			long j = nb_tensor_node(in[k]), su;
			bool mapped = du != (long)i;
			if (j < 0) {
				long L = leaf_of(d, in[k], i, k);
				const dot_leaf *l = &d->leaves[L];
				if (!l->visible || l->absorbed)
					continue;
				su = -1 - L;
				snprintf(src, sizeof src, "t%ld", L);
			} else {
				su = d->unit[j];
				mapped |= su != j;
				if (su == du || in_group(d, d->hider[i], j) ||
				    in_group(d, d->hider[j], (long)i))
					continue;
				unit_id(d, su, src, sizeof src);
			}
			if (mapped && edge_seen(d, su, du, in[k]))
				continue;
			nb__dot_edge_stmt(d, src, dst, in[k], j >= 0);
		}
		if (shows_output(d, i)) {
			char o[32];
			snprintf(o, sizeof o, "o%zu", i);
			nb__dot_edge_stmt(d, dst, o,
			                  nb_graph_node_output(d->g, i), true);
		}
	}
}

static nb_status check_opts(const nb_dot_opts *o)
{
	if (!(o->vanish > 0) || !(o->explode > o->vanish) ||
	    !isfinite(o->explode))
		return nb__set_error(NB_EINVAL, "dot: the health thresholds "
		                     "need 0 < vanish (%g) < explode (%g)",
		                     o->vanish, o->explode);
	return NB_OK;
}

static void free_dot(dot *d)
{
	nb__free(d->unit);
	nb__free(d->hider);
	nb__free(d->rep);
	nb__free(d->consumed);
	nb__free(d->ucluster);
	nb__free(d->leaves);
	nb__free(d->leaf_done);
	nb__free(d->lhash);
	nb__free(d->eset);
	nb__free(d->groups);
	nb__free(d->clusters);
	nb__free(d->sums);
}

static nb_status prepare(dot *d)
{
	size_t n = d->n + 1;
	d->unit = nb__calloc(n, sizeof *d->unit);
	d->hider = nb__malloc(n * sizeof *d->hider);
	d->rep = nb__calloc(n, sizeof *d->rep);
	d->consumed = nb__calloc(n, sizeof *d->consumed);
	if (!d->unit || !d->hider || !d->rep || !d->consumed)
		return NB_ENOMEM;
	for (size_t i = 0; i < d->n; i++) {
		d->hider[i] = -1;
		d->rep[i] = i;
	}
	nb_status st = scan_leaves(d);
	if (!st && d->o.collapse)
		st = collapse(d, 0, d->n, 1);
	if (!st)
		st = assign_units(d);
	if (st)
		return st;
	d->leaf_done = nb__calloc(d->n_leaves + 1, sizeof *d->leaf_done);
	if (!d->leaf_done)
		return NB_ENOMEM;
	place_leaves(d);
	return NB_OK;
}

nb_dot_opts nb_dot_defaults(void)
{
	nb_dot_opts o = {
		.legend = true, .clusters = true, .edge_shapes = true,
		.vanish = 1e-6, .explode = 1e2,
		.max_depth = -1,
	};
	return o;
}

nb_status nb_graph_write_dot(const nb_graph *g, FILE *f,
                             const nb_dot_opts *o)
{
	if (!g || !f)
		return nb__set_error(NB_EINVAL, "dot: %s is NULL",
		                     g ? "file" : "graph");
	dot d = {.g = g, .f = f, .n = nb_graph_node_count(g)};
	d.o = o ? *o : nb_dot_defaults();
	nb_status st = check_opts(&d.o);
	if (st)
		return st;
	if ((st = prepare(&d))) {
		nb__set_error(st, "dot: out of memory for a graph of %zu nodes",
		              d.n);
		goto out;
	}
	nb__dot_header(&d);
	emit_cluster(&d, -1, 0);
	emit_edges(&d);
	if (d.o.legend)
		nb__dot_legend(&d);
	fprintf(f, "}\n");
	if (fflush(f) || ferror(f))
		st = nb__set_error(NB_EIO, "dot: writing failed");
out:
	free_dot(&d);
	return st;
}

nb_status nb_graph_save_dot(const nb_graph *g, const char *path,
                            const nb_dot_opts *o)
{
	if (!path)
		return nb__set_error(NB_EINVAL, "dot: path is NULL");
	FILE *f = fopen(path, "w");
	if (!f)
		return nb__set_error(NB_EIO, "dot: cannot open '%s' for "
		                     "writing", path);
	nb_status st = nb_graph_write_dot(g, f, o);
	if (fclose(f) && !st)
		st = nb__set_error(NB_EIO, "dot: writing '%s' failed", path);
	if (st == NB_EIO)
		nb__set_error(NB_EIO, "dot: writing '%s' failed", path);
	return st;
}
