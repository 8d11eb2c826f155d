/*
 * train_text.c - `nabla train --text FILE`: a character language model
 * on the bytes of a file, trained by truncated backpropagation through
 * time (a recurrent model carries its state from window to window),
 * evaluated in bits per character on the held-out end of the text,
 * saved with its alphabet for `nabla sample`, and sampled once at the
 * end.  The loops are tools/textlm.c's.
 *
 * Under --dist each rank owns a fixed share of the --batch streams
 * (td_share of the rows): it reads its rows of every window, so a
 * recurrent model carries the state of its own streams from window to
 * window, as one process carries all of them; the gradients are
 * averaged (its mean loss weighted by share * ranks / batch), the
 * bits per character summed over the ranks, and rank 0 logs and saves.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "textlm.h"
#include "train.h"

/* --load of a character model: its alphabet must be the text's. */
static int same_alphabet(train_ctx *t)
{
	const char *path = t->o->load;
	nb_safetensors *f;
	if (!path || nb_safetensors_open(path, &f))
		return CLI_OK; /* build_model has reported an unreadable file */
	const char *v = nb_safetensors_meta(f, "nabla.text.vocab");
	char mine[520];
	nb_text_vocab_hex(t->text, mine, sizeof mine);
	int rc = CLI_OK;
	if (!v || strcmp(v, mine)) {
		fprintf(stderr, "nabla train: --load %s: %s\n", path, v
		        ? "the model was trained on another alphabet than this "
		          "text's" : "not a character model (no nabla.text.vocab)");
		rc = CLI_FAIL;
	}
	nb_safetensors_close(f);
	return rc;
}

int train_text_load(train_ctx *t)
{
	const train_opts *o = t->o;
	double held = o->val_split_set ? o->val_split : 0.1;
	if (held > 0.5)
		return cli_usage_error("train", "--val-split %g: with --text at "
		                       "most 0.5 of the text is held out", held);
	if (!(t->text = nb_text_load(o->text, held))) {
		fprintf(stderr, "nabla train: --text: %s%s\n", nb_last_error(),
		        strcmp(o->text, TEXT_DEFAULT) ? ""
		        : " (the default text: apt-get install fortunes)");
		return CLI_FAIL;
	}
	if (!nb_text_windows(t->text, NB_TEXT_HELD_OUT, 1, (int64_t)o->steps)) {
		fprintf(stderr, "nabla train: --text %s: %zu characters held out "
		        "are fewer than one window of --steps %llu\n", o->text,
		        nb_text_len(t->text, NB_TEXT_HELD_OUT),
		        (unsigned long long)o->steps);
		return CLI_FAIL;
	}
	return same_alphabet(t);
}

void train_text_default_spec(const train_ctx *t, char *buf, size_t n)
{
	snprintf(buf, n, TEXT_DEFAULT_SPEC "%d", nb_text_vocab_size(t->text));
}

/* The model maps ids [1, 1] to logits [1, 1, V], or a usage error. */
static int probe(train_ctx *t)
{
	int64_t V = nb_text_vocab_size(t->text), id = 0;
	bool training = nb_module_training(t->model);
	nb_module_set_training(t->model, false);
	bool was = nb_graph_set_grad_enabled(t->g, false);
	nb_tensor *x = nb_graph_from_data(t->g, NB_I64, NB_SHAPE(1, 1), &id);
	nb_tensor *y = nb_module_forward(t->model, t->g, x);
	nb_graph_set_grad_enabled(t->g, was);
	nb_module_set_training(t->model, training);
	nb_module_reset_state(t->model);
	int rc = CLI_OK;
	if (!y) {
		fprintf(stderr, "nabla train: --text: the model fails on token "
		        "ids: %s\n", nb_graph_errmsg(t->g));
		rc = CLI_FAIL;
	} else if (nb_tensor_ndim(y) != 3 || nb_tensor_dim(y, 2) != V) {
		char s[96];
		nb_shape_str(nb_tensor_ndim(y), nb_tensor_shape(y), s, sizeof s);
		fprintf(stderr, "nabla train: --text: the model gives %s for ids "
		        "[1, 1]; a character model gives [batch, steps, %lld] "
		        "(the text has %lld characters): end the spec with "
		        "linear:%lld\n", s, (long long)V, (long long)V,
		        (long long)V);
		rc = CLI_USAGE;
	}
	nb_graph_reset(t->g);
	return rc;
}

typedef struct bar {
	const train_ctx *t;
	uint64_t epoch;
	double t0, last;
} bar;

static void progress(void *ctx, size_t done, size_t n, double bpc)
{
	bar *b = ctx;
	double now = train_now();
	if (now - b->last < 0.1 && done < n)
		return;
	b->last = now;
	train_bar(b->t, b->epoch, done, n);
	fprintf(stderr, "%.3f bits/char ", bpc);
	fflush(stderr);
}

static void print_start(const train_ctx *t)
{
	const train_opts *o = t->o;
	size_t tr = nb_text_len(t->text, NB_TEXT_TRAIN);
	size_t ho = nb_text_len(t->text, NB_TEXT_HELD_OUT);
	if (o->json) {
		printf("{\"event\": \"start\", \"model\": ");
		cli_json_str(stdout, t->spec);
		printf(", \"text\": ");
		cli_json_str(stdout, o->text);
		printf(", \"train_chars\": %zu, \"held_out_chars\": %zu, "
		       "\"vocab\": %d, \"parameters\": %zu, \"trainable\": %zu, "
		       "\"optim\": ", tr, ho, nb_text_vocab_size(t->text),
		       nb_module_numel(t->model, false),
		       nb_module_numel(t->model, true));
		cli_json_str(stdout, o->optim);
		printf(", \"lr\": %.9g, \"batch\": %llu, \"steps\": %llu, "
		       "\"windows\": %zu, \"carries_state\": %s, \"epochs\": %llu, "
		       "\"seed\": %llu, \"threads\": %d}\n",
		       t->opt ? nb_optim_get_lr(t->opt) : 0,
		       (unsigned long long)o->batch, (unsigned long long)o->steps,
		       nb_text_windows(t->text, NB_TEXT_TRAIN, (int64_t)o->batch,
		                       (int64_t)o->steps),
		       nb_module_has_state(t->model) ? "true" : "false",
		       (unsigned long long)o->epochs, (unsigned long long)o->seed,
		       nb_get_num_threads());
		return;
	}
	printf("model: %s\ntext: %s, %zu training and %zu held-out characters, "
	       "an alphabet of %d\n%zu parameters (%zu trainable); windows of "
	       "%llu x %llu characters, %zu per epoch%s\nthreads: %d\n",
	       t->spec, o->text, tr, ho, nb_text_vocab_size(t->text),
	       nb_module_numel(t->model, false), nb_module_numel(t->model, true),
	       (unsigned long long)o->batch, (unsigned long long)o->steps,
	       nb_text_windows(t->text, NB_TEXT_TRAIN, (int64_t)o->batch,
	                       (int64_t)o->steps),
	       nb_module_has_state(t->model)
	       ? ", state carried from window to window" : "",
	       nb_get_num_threads());
	if (t->dist.d)
		printf("ranks: %d, %llu streams (%llu or %llu per rank)\n",
		       t->dist.size, (unsigned long long)o->batch,
		       (unsigned long long)(o->batch / (uint64_t)t->dist.size),
		       (unsigned long long)((o->batch + (uint64_t)t->dist.size
		                             - 1) / (uint64_t)t->dist.size));
}

static int save(train_ctx *t, double bpc)
{
	const train_opts *o = t->o;
	char in[32], bits[32], ep[32], vocab[520];
	snprintf(in, sizeof in, "%llu", (unsigned long long)o->steps);
	snprintf(bits, sizeof bits, "%.6f", bpc);
	snprintf(ep, sizeof ep, "%lld", (long long)(t->epoch0 +
	         (int64_t)o->epochs));
	nb_text_vocab_hex(t->text, vocab, sizeof vocab);
	const char *meta[] = {"nabla.spec", t->spec, "nabla.in_features", in,
	                      "nabla.text.steps", in, "nabla.text.vocab", vocab,
	                      "nabla.data", o->text, "nabla.test_bpc", bits,
	                      "nabla.epoch", ep, NULL};
	/* Under --dist rank 0 writes, every rank gets its status. */
	if (t->dist.d ? nb_dist_checkpoint_save(t->dist.d, o->save, t->model,
	                                        t->opt, meta)
	              : nb_checkpoint_save(o->save, t->model, t->opt, meta)) {
		fprintf(stderr, "nabla train: %s\n", nb_last_error());
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* td_backward for tl_cfg.backward. */
static nb_status dist_backward(void *td, nb_tensor *loss)
{
	return td_backward(td, loss);
}

/*
 * Held-out bits per character.  Under --dist the windows of a stateless
 * model (a transformer) are shared out among the ranks and their sums
 * added; the held-out text is one stream, whose state a recurrent model
 * carries from window to window, so rank 0 reads all of it and the
 * others none (cutting it would restart the state at each cut and
 * change the figure).
 */
static int held_out(train_ctx *t, double *bpc)
{
	const train_opts *o = t->o;
	char err[512];
	size_t n = nb_text_windows(t->text, NB_TEXT_HELD_OUT, 1,
	                           (int64_t)o->steps), w0 = 0, k = n;
	if (t->dist.d && nb_module_has_state(t->model))
		k = t->dist.rank ? 0 : n;
	else if (t->dist.d)
		k = td_share(&t->dist, n, &w0);
	double sum = 0;
	nb_status st = tl_evaluate_sum(t->model, t->g, t->text,
	                               NB_TEXT_HELD_OUT, 1, (int64_t)o->steps,
	                               w0, w0 + k, &sum, err, sizeof err);
	if (st) {
		fprintf(stderr, "nabla train: %s\n", err);
		return td_fail(&t->dist, CLI_FAIL);
	}
	if (t->dist.d && nb_dist_allreduce(t->dist.d, &sum, 1, NB_DIST_SUM)) {
		fprintf(stderr, "nabla train: %s\n", nb_last_error());
		return CLI_FAIL;
	}
	*bpc = sum / (double)n / log(2.0);
	return CLI_OK;
}

int train_text_run(train_ctx *t)
{
	const train_opts *o = t->o;
	char err[512];
	int rc;
	if (t->dist.d && o->batch < (uint64_t)t->dist.size) {
		fprintf(stderr, "nabla train: --dist: --batch %llu streams for "
		        "%d ranks: each rank needs at least one\n",
		        (unsigned long long)o->batch, t->dist.size);
		return CLI_USAGE;
	}
	if ((rc = probe(t)))
		return rc;
	print_start(t);
	tl_cfg c = {.batch = (int64_t)o->batch, .steps = (int64_t)o->steps,
	            .clip_norm = o->clip_norm};
	if (t->dist.d) {
		size_t off;
		c.rows = (int64_t)td_share(&t->dist, o->batch, &off);
		c.row0 = (int64_t)off;
		c.ranks = t->dist.size;
		c.backward = dist_backward;
		c.bctx = &t->dist;
	}
	bar b = {.t = t};
	if (t->tty) {
		c.progress = progress;
		c.ctx = &b;
	}
	double bpc = NAN, t0 = train_now();
	for (uint64_t e = 0; e < o->epochs; e++) {
		double train_bpc, lr = nb_optim_get_lr(t->opt), e0 = train_now();
		b.epoch = e;
		if (tl_train_epoch(t->model, t->g, t->opt, t->params, t->n_params,
		                   t->text, &c, &train_bpc, err, sizeof err)) {
			fprintf(stderr, "%snabla train: %s\n", t->tty ? "\n" : "", err);
			return CLI_FAIL;
		}
		if (td_epoch_sums(&t->dist, &train_bpc, 1)) {
			fprintf(stderr, "nabla train: %s\n", nb_last_error());
			return CLI_FAIL;
		}
		double secs = train_now() - e0;
		if (t->tty)
			fprintf(stderr, "\r%*s\r", 79, "");
		if (t->sched && nb_sched_step(t->sched)) {
			fprintf(stderr, "nabla train: %s\n", nb_last_error());
			return CLI_FAIL;
		}
		if ((rc = held_out(t, &bpc)))
			return rc;
		double chars = (double)nb_text_windows(t->text, NB_TEXT_TRAIN,
		    (int64_t)o->batch, (int64_t)o->steps) * (double)o->batch *
		    (double)o->steps;
		if (o->json)
			printf("{\"event\": \"epoch\", \"epoch\": %llu, \"lr\": %.9g, "
			       "\"train_bpc\": %.6f, \"test_bpc\": %.6f, "
			       "\"chars_per_s\": %.1f, \"ms_per_window\": %.3f}\n",
			       (unsigned long long)e + 1, lr, train_bpc, bpc,
			       chars / secs, 1000 * secs * (double)o->batch *
			       (double)o->steps / chars);
		else
			printf("epoch %llu/%llu  train_bpc %.4f  test_bpc %.4f  "
			       "%.0f chars/s\n", (unsigned long long)e + 1,
			       (unsigned long long)o->epochs, train_bpc, bpc,
			       chars / secs);
		fflush(stdout);
	}
	if (!o->epochs) {
		if ((rc = held_out(t, &bpc)))
			return rc;
		if (!o->json)
			printf("test_bpc %.4f  (--epochs 0: nothing trained)\n",
			       bpc);
	}
	if (o->save && (rc = save(t, bpc)))
		return rc;
	if (td_leader(&t->dist))
		td_summary(&t->dist, o->json);
	if (o->json) {
		printf("{\"event\": \"end\", \"test_bpc\": %.6f, \"seconds\": %.3f, "
		       "\"saved\": ", bpc, train_now() - t0);
		if (o->save)
			cli_json_str(stdout, o->save);
		else
			printf("null");
		printf("}\n");
		return CLI_OK;
	}
	/* A taste of the model: 200 characters at temperature 0.8; none
	 * from a model --epochs 0 did not train, as the classifier's
	 * --epochs 0 only evaluates. */
	if (!o->epochs || !td_leader(&t->dist))
		return CLI_OK;
	nb_rng r;
	nb_rng_seed(&r, o->seed);
	printf("sample (temperature 0.8):\n");
	if (tl_generate(t->model, t->g, t->text, "", 200, 0.8, 0,
	                (int64_t)o->steps, &r, stdout, err, sizeof err)) {
		fprintf(stderr, "\nnabla train: sample: %s\n", err);
		return CLI_FAIL;
	}
	printf("\n");
	return CLI_OK;
}
