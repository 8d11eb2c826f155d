/*
 * test_dist.c - data-parallel training on MPI, run by tests/test_dist.sh
 * under `mpirun -np N` (N = 2 and 3).  Every rank runs every check; a
 * check passes when it passed on every rank (an allreduce of the
 * failures), and rank 0 prints TAP.  Without MPI in the build it checks
 * the NB_ESTATE errors and the sampler alone.
 *
 * The reference for the averaged gradients is the same model on one
 * process over the global batch, which every rank also computes: the
 * ranks' shards are rows r*B .. r*B+B-1 of the global batch of size*B
 * rows, and a mean loss over each shard averaged over the ranks is the
 * mean loss over the global batch.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nabla/nabla.h>

static int rank_, size_ = 1, tap_n;
static nb_dist *D;

/* One TAP line for a check that passed on this rank when ok; the
 * verdict is the conjunction over the ranks. */
static void report(bool ok, const char *what)
{
	double bad = ok ? 0 : 1;
	if (D && nb_dist_allreduce(D, &bad, 1, NB_DIST_SUM))
		bad = 1;
	if (!ok)
		fprintf(stderr, "# rank %d: %s failed (%s)\n", rank_, what,
		        nb_last_error());
	if (rank_ == 0)
		printf("%sok %d - %s (np %d)\n", bad ? "not " : "", ++tap_n,
		       what, size_);
}

enum { IN = 5, HID = 7, OUT = 3, B = 4 };

/* linear(IN, HID) tanh linear(HID, OUT) [extra linear(OUT, OUT)],
 * float64, initialized from seed. */
static nb_module *model(uint64_t seed, bool extra)
{
	nb_rng r;
	nb_rng_seed(&r, seed);
	nb_module *m = nb_sequential_new(NULL);
	nb_module_add(m, nb_linear_new("fc1", IN, HID, true, NB_F64, &r));
	nb_module_add(m, nb_op_layer_new("act", nb_op_find("tanh"), NULL, 0,
	                                 NB_F64, 0));
	nb_module_add(m, nb_linear_new("fc2", HID, OUT, true, NB_F64, &r));
	if (extra)
		nb_module_add(m, nb_linear_new("fc3", OUT, OUT, true, NB_F64,
		                               &r));
	return m;
}

/* The data set: rows of x [rows, IN] and y [rows, OUT] from a fixed
 * seed, the same on every rank. */
static double X[64][IN], Y[64][OUT];
static void make_data(void)
{
	nb_rng r;
	nb_rng_seed(&r, 7);
	for (int i = 0; i < 64; i++) {
		for (int j = 0; j < IN; j++)
			X[i][j] = nb_rng_normal(&r);
		for (int j = 0; j < OUT; j++)
			Y[i][j] = nb_rng_normal(&r);
	}
}

/* The batch tensors of the last loss_of: inputs of the tape, so they
 * live until the next call (after the caller's nb_graph_reset). */
static nb_tensor *keep[2];
static void drop_batch(void)
{
	nb_tensor_free(keep[0]);
	nb_tensor_free(keep[1]);
	keep[0] = keep[1] = NULL;
}

/* mse loss of m over rows first .. first+n-1 on g. */
static nb_tensor *loss_of(nb_graph *g, nb_module *m, int first, int n)
{
	drop_batch();
	keep[0] = nb_tensor_from_data(NB_F64, 2, (int64_t[]){n, IN},
	                              X[first], NB_BORROW);
	keep[1] = nb_tensor_from_data(NB_F64, 2, (int64_t[]){n, OUT},
	                              Y[first], NB_BORROW);
	return nb_mse_loss(g, nb_module_forward(m, g, keep[0]), keep[1],
	                   NB_REDUCTION_MEAN);
}

/* The largest |a - b| over the gradients (grads) or values of two
 * models of the same layout. */
static double max_diff(nb_module *a, nb_module *b, bool grads)
{
	nb_tensor *pa[8], *pb[8];
	size_t n = nb_module_params(a, true, pa, 8);
	nb_module_params(b, true, pb, 8);
	double d = 0;
	for (size_t i = 0; i < n; i++) {
		nb_tensor *ta = grads ? nb_tensor_grad(pa[i]) : pa[i];
		nb_tensor *tb = grads ? nb_tensor_grad(pb[i]) : pb[i];
		if (!ta || !tb)
			return INFINITY;
		const double *x = nb_tensor_data(ta), *y = nb_tensor_data(tb);
		for (size_t e = 0; e < nb_tensor_numel(ta); e++)
			d = fmax(d, fabs(x[e] - y[e]));
	}
	return d;
}

/* Whether m's parameters are bit-identical on every rank (min == max
 * of every element over the ranks). */
static bool same_everywhere(nb_module *m)
{
	nb_tensor *p[8];
	size_t n = nb_module_params(m, true, p, 8);
	bool ok = true;
	for (size_t i = 0; i < n; i++) {
		size_t k = nb_tensor_numel(p[i]);
		double *lo = malloc(k * sizeof *lo), *hi = malloc(k * sizeof *hi);
		memcpy(lo, nb_tensor_data(p[i]), k * sizeof *lo);
		memcpy(hi, lo, k * sizeof *hi);
		nb_dist_allreduce(D, lo, k, NB_DIST_MIN);
		nb_dist_allreduce(D, hi, k, NB_DIST_MAX);
		for (size_t e = 0; e < k; e++)
			ok = ok && lo[e] == hi[e];
		free(lo);
		free(hi);
	}
	return ok;
}

/* k SGD steps (momentum 0.9) of the ranks' model under ddp and of the
 * one-process reference over the global batch; checks the gradients of
 * the first step and the parameters after every step. */
static void check_training(const nb_ddp_opts *o, const char *what)
{
	char name[160];
	nb_module *m = model(100 + (uint64_t)rank_, false); /* differ... */
	nb_module *ref = model(100, false);          /* ...until broadcast */
	nb_ddp *p = nb_ddp_new(D, m, o);
	report(p != NULL, "nb_ddp_new");
	nb_tensor *pm[8], *pr[8];
	size_t n = nb_module_params(m, true, pm, 8);
	nb_module_params(ref, true, pr, 8);
	nb_sgd_opts so = nb_sgd_defaults();
	so.lr = 0.1;
	so.momentum = 0.9;
	nb_optim *om = nb_optim_sgd(pm, n, &so), *or = nb_optim_sgd(pr, n, &so);
	nb_graph *g = nb_graph_new();
	double gdiff = INFINITY, pdiff = 0;
	bool same = true, during = true;
	for (int step = 0; step < 3 && p; step++) {
		int first = step * size_ * B;
		nb_module_zero_grad(m);
		nb_module_zero_grad(ref);
		nb_graph_reset(g);
		nb_ddp_backward(p, loss_of(g, m, first + rank_ * B, B), NULL);
		nb_status st = nb_ddp_finish(p);
		nb_ddp_stats s = nb_ddp_stats_get(p);
		during = during && (o->after_backward ? s.started_in_backward == 0
		                    : s.started_in_backward == s.buckets);
		nb_graph_reset(g);
		nb_backward(loss_of(g, ref, first, size_ * B), NULL);
		if (step == 0)
			gdiff = st ? INFINITY : max_diff(m, ref, true);
		nb_optim_step(om);
		nb_optim_step(or);
		pdiff = fmax(pdiff, max_diff(m, ref, false));
		same = same && same_everywhere(m);
	}
	if (rank_ == 0)
		printf("# %s: %zu buckets, gradient error %.3g, parameter error "
		       "%.3g after 3 steps\n", what, nb_ddp_stats_get(p).buckets,
		       gdiff, pdiff);
	snprintf(name, sizeof name, "%s: gradients = one process over the "
	         "global batch (1e-12)", what);
	report(gdiff <= 1e-12, name);
	snprintf(name, sizeof name, "%s: parameters after 3 SGD steps = one "
	         "process (1e-10)", what);
	report(pdiff <= 1e-10, name);
	snprintf(name, sizeof name, "%s: parameters identical on every "
	         "rank after every step", what);
	report(same, name);
	snprintf(name, sizeof name, "%s: buckets started %s backward", what,
	         o->after_backward ? "after" : "during");
	report(during, name);
	nb_graph_free(g);
	nb_optim_free(om);
	nb_optim_free(or);
	nb_ddp_free(p);
	nb_module_free(m);
	nb_module_free(ref);
}

/* no_sync: two micro-steps per rank accumulated, then one average,
 * equal to the sum of the global micro-batches' gradients. */
static void check_no_sync(void)
{
	nb_module *m = model(100, false), *ref = model(100, false);
	nb_ddp_opts o = {.bucket_bytes = 200};
	nb_ddp *p = nb_ddp_new(D, m, &o);
	nb_graph *g = nb_graph_new();
	nb_module_zero_grad(m);
	nb_module_zero_grad(ref);
	for (int micro = 0; micro < 4 && p; micro++) {
		int first = micro * size_ * B;
		nb_ddp_set_no_sync(p, micro < 3);
		nb_graph_reset(g);
		nb_ddp_backward(p, loss_of(g, m, first + rank_ * B, B), NULL);
		nb_graph_reset(g);
		nb_backward(loss_of(g, ref, first, size_ * B), NULL);
	}
	nb_status st = p ? nb_ddp_finish(p) : NB_EINVAL;
	double d = st ? INFINITY : max_diff(m, ref, true);
	if (rank_ == 0)
		printf("# no_sync: gradient error %.3g\n", d);
	report(d <= 1e-12, "no_sync: 4 accumulated micro-steps = one large "
	       "step (1e-12)");
	nb_graph_free(g);
	nb_ddp_free(p);
	nb_module_free(m);
	nb_module_free(ref);
}

/* Every rank's error must be st, with a message containing part. */
static void expect(nb_status got, nb_status st, const char *part,
                   const char *what)
{
	bool ok = got == st && strstr(nb_last_error(), part);
	if (rank_ == 0 || !ok)
		fprintf(stderr, "# rank %d: %s: %s\n", rank_, what,
		        nb_last_error());
	report(ok, what);
}

static void check_mismatches(void)
{
	/* Different parameter sets: rank 1 has one more layer. */
	nb_module *m = model(1, rank_ == 1);
	nb_ddp *p = nb_ddp_new(D, m, NULL);
	expect(p ? NB_OK : NB_ESTATE, NB_ESTATE, "rank 1's model differs",
	       "different parameters: an error on every rank");
	nb_ddp_free(p);
	nb_module_free(m);

	/* A parameter without gradient: rank 1 computes its loss from
	 * fc1 alone (fc2 never reached). */
	m = model(1, false);
	p = nb_ddp_new(D, m, &(nb_ddp_opts){.bucket_bytes = 64});
	nb_graph *g = nb_graph_new();
	nb_tensor *loss = loss_of(g, m, 0, B);
	if (rank_ == 1) {
		nb_tensor *x = nb_tensor_from_data(NB_F64, 2,
		    (int64_t[]){B, IN}, X[0], NB_BORROW);
		nb_module *fc1 = nb_module_child(m, 0);
		loss = nb_mean(g, nb_module_forward(fc1, g, x), 0, NULL, false);
		nb_ddp_backward(p, loss, NULL);
		nb_tensor_free(x);
	} else {
		nb_ddp_backward(p, loss, NULL);
	}
	expect(nb_ddp_finish(p), NB_ESTATE, "received no gradient",
	       "a parameter without gradient on one rank: an error on every "
	       "rank");

	/* A failed backward on the last rank. */
	nb_graph_reset(g);
	loss = loss_of(g, m, 0, B);
	nb_ddp_backward(p, rank_ == size_ - 1 ? NULL : loss, NULL);
	expect(nb_ddp_finish(p), NB_ESTATE, "backward failed on rank",
	       "a failed backward on one rank: an error on every rank");

	/* The next step is clean again. */
	nb_graph_reset(g);
	nb_ddp_backward(p, loss_of(g, m, 0, B), NULL);
	report(nb_ddp_finish(p) == NB_OK, "a clean step after the errors");
	nb_graph_free(g);
	nb_ddp_free(p);
	nb_module_free(m);
}

static void check_checkpoint(void)
{
	nb_module *m = model(1, false);
	char good[256], bad[256];
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(good, sizeof good, "%s/nb-dist-%d.safetensors", tmp,
	         (int)nb_dist_size(D));
	snprintf(bad, sizeof bad, "%s/no-such-dir-nb/x.safetensors", tmp);
	if (rank_ == 0)
		remove(good);
	/* Only rank 0 writes: the others' path is never used. */
	nb_status st = nb_dist_checkpoint_save(D, rank_ ? bad : good, m,
	                                       NULL, NULL);
	report(st == NB_OK, "checkpoint: rank 0 writes, the others' paths "
	       "unused");
	report(nb_module_load(m, good, true, NULL) == NB_OK,
	       "checkpoint: every rank loads rank 0's file");
	st = nb_dist_checkpoint_save(D, rank_ ? good : bad, m, NULL, NULL);
	expect(st, NB_EIO, "", "checkpoint: rank 0's failure is every "
	       "rank's error");
	if (rank_ == 0)
		remove(good);
	nb_module_free(m);
}

/* Every sample in some shard, no sample in two (apart from padding),
 * and a new order each epoch. */
static void check_sampler(size_t n, unsigned flags, const char *what)
{
	size_t len = nb_dist_shard_len(n, size_, flags);
	int64_t *a = calloc(len + 1, sizeof *a), *b = calloc(len + 1, sizeof *b);
	double *count = calloc(n, sizeof *count);
	bool ok = !nb_dist_shard(n, 5, 0, rank_, size_, flags, a, len) &&
	          !nb_dist_shard(n, 5, 1, rank_, size_, flags, b, len);
	for (size_t i = 0; ok && i < len; i++)
		count[a[i]] += 1;
	ok = ok && !nb_dist_allreduce(D, count, n, NB_DIST_SUM);
	size_t total = len * (size_t)size_, seen = 0, twice = 0;
	for (size_t i = 0; i < n; i++) {
		seen += count[i] > 0;
		twice += count[i] > 1 ? (size_t)count[i] - 1 : 0;
	}
	bool drop = flags & NB_SHARD_DROP_LAST;
	ok = ok && seen == (drop ? total : n) &&
	     twice == (drop ? 0 : total - n);
	double differ = memcmp(a, b, len * sizeof *a) != 0;
	nb_dist_allreduce(D, &differ, 1, NB_DIST_MAX);
	ok = ok && (!(flags & NB_SHARD_SHUFFLE) || differ > 0);
	report(ok, what);
	free(a);
	free(b);
	free(count);
}

/* Without shuffling the shards are exactly PyTorch's (values from
 * torch.utils.data.DistributedSampler(range(n), num_replicas, rank,
 * shuffle=False, drop_last), torch 1.13).  Needs no MPI. */
static void check_sampler_pytorch(void)
{
	static const struct {
		size_t n;
		int size;
		bool drop;
		int64_t want[3][4];
	} c[] = {
		{10, 3, false, {{0, 3, 6, 9}, {1, 4, 7, 0}, {2, 5, 8, 1}}},
		{10, 3, true, {{0, 3, 6}, {1, 4, 7}, {2, 5, 8}}},
		{5, 3, false, {{0, 3}, {1, 4}, {2, 0}}},
		{2, 3, false, {{0}, {1}, {0}}},
	};
	bool ok = true;
	for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
		unsigned f = c[i].drop ? NB_SHARD_DROP_LAST : 0;
		size_t len = nb_dist_shard_len(c[i].n, c[i].size, f);
		for (int r = 0; r < c[i].size; r++) {
			int64_t got[4] = {-1, -1, -1, -1};
			ok = ok && len <= 4 &&
			     !nb_dist_shard(c[i].n, 1, 0, r, c[i].size, f, got, 4) &&
			     !memcmp(got, c[i].want[r], len * sizeof *got);
		}
	}
	int64_t one[1];
	ok = ok && nb_dist_shard(10, 1, 0, 0, 3, 0, one, 1) == NB_EINVAL &&
	     strstr(nb_last_error(), "room for 1 indices, 4 needed") &&
	     nb_dist_shard(10, 1, 0, 3, 3, 0, one, 1) == NB_EINVAL;
	report(ok, "sampler without shuffle = PyTorch's DistributedSampler; "
	       "bad rank or room refused");
}

/* ---- sync_batch_norm against batch_norm on the global batch ---- */

enum { SC = 3, SH = 2, SW = 2, SPAT = SH * SW };

/* A model of one batch_norm layer (bn1) with weight 1 + 0.1c and bias
 * 0.2c, converted to sync_batch_norm over D when sync. */
static nb_module *bn_model(bool sync, size_t *converted)
{
	nb_module *m = nb_sequential_new(NULL);
	nb_module_add(m, nb_layer_new("bn1", "batch_norm", NULL, SC, NB_F64,
	                              0));
	nb_module *bn = nb_module_child(m, 0);
	double *w = nb_tensor_data(nb_module_tensor(bn, "weight"));
	double *b = nb_tensor_data(nb_module_tensor(bn, "bias"));
	for (int c = 0; c < SC; c++) {
		w[c] = 1 + 0.1 * c;
		b[c] = 0.2 * c;
	}
	if (sync && nb_sync_batch_norm_convert(m, D, converted))
		fprintf(stderr, "# convert: %s\n", nb_last_error());
	return m;
}

/* |a - b| over n doubles, the largest. */
static double diff(const double *a, const double *b, size_t n)
{
	double d = 0;
	for (size_t i = 0; i < n; i++)
		d = fmax(d, fabs(a[i] - b[i]));
	return d;
}

/* One training forward and backward of m on rows [first, first + n) of
 * x (with loss sum(y * r)): y and dx into ys and dxs. */
static void bn_step(nb_module *m, nb_graph *g, const double *x,
                    const double *r, int first, int n, double *ys,
                    double *dxs)
{
	size_t row = SC * SPAT;
	int64_t shape[4] = {n, SC, SH, SW};
	nb_tensor *xt = nb_tensor_from_data(NB_F64, 4, shape,
	                                    (void *)(x + first * row), NB_COPY);
	nb_tensor *rt = nb_tensor_from_data(NB_F64, 4, shape,
	                                    (void *)(r + first * row), NB_COPY);
	nb_tensor_set_requires_grad(xt, true);
	nb_graph_reset(g);
	nb_tensor *y = nb_module_forward(m, g, xt);
	nb_tensor *loss = nb_sum(g, nb_mul(g, y, rt), 0, NULL, false);
	if (!loss || nb_backward(loss, NULL))
		fprintf(stderr, "# bn_step: %s\n", nb_graph_errmsg(g));
	if (y)
		memcpy(ys, nb_tensor_data(y), (size_t)n * row * sizeof *ys);
	if (nb_tensor_grad(xt))
		memcpy(dxs, nb_tensor_data(nb_tensor_grad(xt)),
		       (size_t)n * row * sizeof *dxs);
	nb_graph_reset(g);
	nb_tensor_free(xt);
	nb_tensor_free(rt);
}

/* The ranks' shards are uneven: rank r has r + 2 rows. */
static void check_sync_bn(void)
{
	enum { MAXN = 64 };
	size_t row = SC * SPAT;
	int n = rank_ + 2, first = 0, total = 0;
	for (int r = 0; r < size_; r++) {
		if (r < rank_)
			first += r + 2;
		total += r + 2;
	}
	static double x[2][MAXN * SC * SPAT], rr[MAXN * SC * SPAT];
	nb_rng g0;
	nb_rng_seed(&g0, 11);
	for (int s = 0; s < 2; s++)
		for (size_t i = 0; i < (size_t)total * row; i++)
			x[s][i] = 3 + 2 * nb_rng_normal(&g0);
	for (size_t i = 0; i < (size_t)total * row; i++)
		rr[i] = nb_rng_normal(&g0);
	size_t conv = 0;
	nb_module *ref = bn_model(false, NULL), *m = bn_model(true, &conv);
	nb_module *plain = bn_model(false, NULL);
	report(conv == 1, "sync_batch_norm_convert: one layer swapped");
	/* names: the converted model's are the plain one's */
	const nb_named_tensor *ta, *tb;
	size_t na = nb_module_tensors(m, &ta), nb = nb_module_tensors(plain, &tb);
	bool names = na == nb && na == 5;
	for (size_t i = 0; names && i < na; i++)
		names = !strcmp(ta[i].name, tb[i].name);
	report(names, "sync_batch_norm_convert keeps the tensors and their "
	       "names (bn1.weight ... bn1.num_batches_tracked)");
	nb_graph *g = nb_graph_new();
	static double yr[MAXN * SC * SPAT], dxr[MAXN * SC * SPAT];
	static double ys[MAXN * SC * SPAT], dxs[MAXN * SC * SPAT];
	double dy = 0, ddx = 0, dparam = 0, dstat = 0;
	for (int s = 0; s < 2; s++) {
		nb_module_zero_grad(ref);
		nb_module_zero_grad(m);
		bn_step(ref, g, x[s], rr, 0, total, yr, dxr);
		bn_step(m, g, x[s], rr, first, n, ys, dxs);
		dy = fmax(dy, diff(ys, yr + (size_t)first * row, (size_t)n * row));
		ddx = fmax(ddx, diff(dxs, dxr + (size_t)first * row,
		                     (size_t)n * row));
		/* the parameters' gradients: each rank's part, summed */
		nb_module *bs = nb_module_child(m, 0), *br = nb_module_child(ref, 0);
		const char *pn[] = {"weight", "bias"};
		for (int k = 0; k < 2; k++) {
			double gs[SC];
			memcpy(gs, nb_tensor_data(nb_tensor_grad(
			       nb_module_tensor(bs, pn[k]))), sizeof gs);
			nb_dist_allreduce(D, gs, SC, NB_DIST_SUM);
			dparam = fmax(dparam, diff(gs, nb_tensor_data(nb_tensor_grad(
			              nb_module_tensor(br, pn[k]))), SC));
		}
		const char *sn[] = {"running_mean", "running_var"};
		for (int k = 0; k < 2; k++)
			dstat = fmax(dstat, diff(
			    nb_tensor_data(nb_module_tensor(bs, sn[k])),
			    nb_tensor_data(nb_module_tensor(br, sn[k])), SC));
	}
	nb_module *bs = nb_module_child(m, 0);
	int64_t tracked = *(int64_t *)nb_tensor_data(
	                      nb_module_tensor(bs, "num_batches_tracked"));
	/* evaluation mode: the running statistics, no communication */
	nb_module_set_training(m, false);
	nb_module_set_training(ref, false);
	nb_graph_set_training(g, false);
	bn_step(ref, g, x[0], rr, 0, total, yr, dxr);
	bn_step(m, g, x[0], rr, first, n, ys, dxs);
	double de = fmax(diff(ys, yr + (size_t)first * row, (size_t)n * row),
	                 diff(dxs, dxr + (size_t)first * row,
	                      (size_t)n * row));
	nb_graph_set_training(g, true);
	if (rank_ == 0)
		printf("# sync_batch_norm (np %d, %d rows): output %.3g, input "
		       "gradient %.3g, weight/bias gradients %.3g, running "
		       "statistics %.3g, evaluation %.3g\n", size_, total, dy, ddx,
		       dparam, dstat, de);
	report(dy <= 1e-10 && ddx <= 1e-10, "sync_batch_norm: output and input "
	       "gradient = batch_norm on the global batch (float64, 1e-10)");
	report(dparam <= 1e-10, "sync_batch_norm: weight and bias gradients "
	       "summed over the ranks = batch_norm's (1e-10)");
	report(dstat <= 1e-10 && tracked == 2, "sync_batch_norm: running "
	       "statistics (unbiased, global count) and num_batches_tracked "
	       "= batch_norm's after 2 steps");
	report(de <= 1e-10, "sync_batch_norm in evaluation mode = batch_norm");
	/* a layer made directly, without a communicator: batch_norm */
	nb_module *solo = nb_sync_batch_norm_new("bn", NULL, SC, NB_F64);
	report(solo && nb_module_tensor(solo, "num_batches_tracked"),
	       "nb_sync_batch_norm_new without a communicator");
	nb_module_free(solo);
	nb_graph_free(g);
	nb_module_free(ref);
	nb_module_free(m);
	nb_module_free(plain);
}

/* ---- a skipped step: an error on every rank, not a hang ---- */

/* The last rank skips nb_optim_step once: the next step's check finds
 * the optimizers' counts differ.  The collectives still pair, so the
 * context goes on. */
static void check_skipped_optim_step(void)
{
	nb_module *m = model(3, false);
	nb_ddp *p = nb_ddp_new(D, m, NULL);
	nb_tensor *pm[8];
	size_t n = nb_module_params(m, true, pm, 8);
	nb_sgd_opts so = nb_sgd_defaults();
	nb_optim *o = nb_optim_sgd(pm, n, &so);
	nb_ddp_set_optim(p, o);
	nb_graph *g = nb_graph_new();
	nb_status st = NB_OK;
	for (int step = 0; step < 2; step++) {
		nb_graph_reset(g);
		nb_module_zero_grad(m);
		nb_ddp_backward(p, loss_of(g, m, rank_ * B, B), NULL);
		st = nb_ddp_finish(p);
		if (!(step == 0 && rank_ == size_ - 1))
			nb_optim_step(o);
	}
	expect(st, NB_ESTATE, "skipped (or repeated) nb_optim_step",
	       "a rank skipping nb_optim_step: an error on every rank at the "
	       "next step");
	nb_graph_free(g);
	nb_optim_free(o);
	nb_ddp_free(p);
	nb_module_free(m);
}

/* Rank 1 runs out of batches a step early and reaches the end-of-epoch
 * barrier while the others are in their third step: every rank gets
 * the error, none hangs.  Its own communicator (nb_dist_init again:
 * a fresh duplicate), because the others' third-step allreduces are
 * left without partners on it. */
static void check_fewer_batches(void)
{
	nb_dist *d2 = nb_dist_init(NULL, NULL);
	nb_module *m = model(3, false);
	nb_ddp *p = d2 ? nb_ddp_new(d2, m, NULL) : NULL;
	nb_graph *g = nb_graph_new();
	nb_status st = NB_OK;
	int steps = rank_ == 1 ? 2 : 3;
	for (int step = 0; p && step < steps && !st; step++) {
		nb_graph_reset(g);
		nb_module_zero_grad(m);
		nb_ddp_backward(p, loss_of(g, m, rank_ * B, B), NULL);
		st = nb_ddp_finish(p);
	}
	if (p && !st)
		st = nb_ddp_barrier(p);
	expect(st, NB_ESTATE, "different numbers of steps", "a rank with "
	       "fewer batches: an error on every rank (barrier against step)");
	nb_status again = p ? nb_ddp_finish(p) : NB_OK;
	report(again == NB_ESTATE && strstr(nb_last_error(), "nb_dist_abort"),
	       "the broken context refuses further steps");
	nb_graph_free(g);
	nb_ddp_free(p);
	nb_module_free(m);
	nb_dist_free(d2);
}

static void check_rank_seed(void)
{
	report(nb_dist_rank_seed(42, 0) == 42 &&
	       nb_dist_rank_seed(42, 1) != nb_dist_rank_seed(42, 2) &&
	       nb_dist_rank_seed(42, 1) == nb_dist_rank_seed(42, 1) &&
	       nb_dist_rank_seed(42, 1) != 42,
	       "nb_dist_rank_seed: rank 0 the seed, others distinct");
}

/* ZeRO-1: 3 AdamW steps with the state sharded equal one process's
 * AdamW over the global batch, and each rank keeps ceil(T / size)
 * elements of each moment.  (fc2.bias, frozen, is broadcast from rank
 * 0 and left alone.) */
static void check_zero(void)
{
	nb_module *m = model(100 + (uint64_t)rank_, false);
	nb_module *ref = model(100, false);
	/* 63 trainable elements: 2 ranks pad their flat vector */
	nb_module_freeze(m, "fc2.bias", true, NULL);
	nb_module_freeze(ref, "fc2.bias", true, NULL);
	nb_adam_opts ao = nb_adamw_defaults();
	ao.lr = 0.01;
	nb_zero *z = nb_zero_new(D, m, &ao, true);
	report(z != NULL, "nb_zero_new");
	nb_tensor *pr[8];
	size_t n = nb_module_params(ref, true, pr, 8);
	nb_optim *or = nb_optim_adamw(pr, n, &ao);
	nb_graph *g = nb_graph_new();
	double pdiff = 0;
	bool same = true;
	for (int step = 0; step < 3 && z; step++) {
		int first = step * size_ * B;
		nb_module_zero_grad(m);
		nb_module_zero_grad(ref);
		nb_graph_reset(g);
		nb_backward(loss_of(g, m, first + rank_ * B, B), NULL);
		nb_status st = nb_zero_step(z);
		nb_graph_reset(g);
		nb_backward(loss_of(g, ref, first, size_ * B), NULL);
		nb_optim_step(or);
		pdiff = fmax(pdiff, st ? INFINITY : max_diff(m, ref, false));
		same = same && same_everywhere(m);
	}
	size_t total = nb_module_numel(ref, true);
	size_t want = total / (size_t)size_ + (total % (size_t)size_ != 0);
	nb_tensor *ea = nb_optim_state_find(nb_zero_optim(z), "0.exp_avg");
	if (rank_ == 0)
		printf("# zero: %zu parameters, %zu per rank, parameter error "
		       "%.3g after 3 AdamW steps\n", total,
		       nb_zero_shard_numel(z), pdiff);
	report(pdiff <= 1e-10 && same, "zero: parameters after 3 AdamW steps "
	       "= one process (1e-10), identical on every rank");
	report(nb_zero_shard_numel(z) == want && ea &&
	       nb_tensor_numel(ea) == want, "zero: each rank keeps "
	       "ceil(T / size) elements of Adam's moments");
	nb_graph_free(g);
	nb_optim_free(or);
	nb_zero_free(z);
	nb_module_free(m);
	nb_module_free(ref);
}

int main(int argc, char **argv)
{
	make_data();
	if (!nb_dist_available()) {
		nb_dist *d = nb_dist_init(&argc, &argv);
		bool ok = !d && nb_last_error() &&
		          strstr(nb_last_error(), "built without MPI");
		printf("%sok 1 - without MPI: nb_dist_init fails with "
		       "\"%s\"\n", ok ? "" : "not ", nb_last_error());
		tap_n = 1;
		check_sampler_pytorch();
		printf("1..%d\n", tap_n);
		return 0;
	}
	D = nb_dist_init(&argc, &argv);
	if (!D) {
		printf("1..0 # SKIP nb_dist_init: %s\n", nb_last_error());
		return 0;
	}
	rank_ = nb_dist_rank(D);
	size_ = nb_dist_size(D);
	check_training(&(nb_ddp_opts){.bucket_bytes = 200},
	               "buckets during backward");
	check_training(&(nb_ddp_opts){.after_backward = true},
	               "one bucket after backward");
	check_no_sync();
	check_sampler_pytorch();
	check_sampler(10, NB_SHARD_SHUFFLE, "sampler: padded shards cover, "
	              "disjoint but for the padding, new order each epoch");
	check_sampler(10, NB_SHARD_SHUFFLE | NB_SHARD_DROP_LAST, "sampler: "
	              "drop_last shards disjoint, remainder dropped");
	check_mismatches();
	check_checkpoint();
	check_rank_seed();
	check_sync_bn();
	check_skipped_optim_step();
	check_zero();
	check_fewer_batches(); /* last: it leaves requests unpaired */
	drop_batch();
	if (rank_ == 0)
		printf("1..%d\n", tap_n);
	nb_dist_free(D);
	return 0;
}
