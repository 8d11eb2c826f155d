/*
 * train_data.c - `nabla train --data FILE.npz|FILE.csv`: loading the
 * user's data set (nb_dataset_load), choosing and checking the loss, and
 * evaluating for it (nb_evaluate covers cross-entropy only).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include "train_data.h"

bool train_loss_parse(const char *s, loss_kind *out)
{
	static const char *const names[] = {"ce", "mse", "bce"};
	for (int i = 0; i < 3; i++)
		if (!strcmp(s, names[i])) {
			*out = (loss_kind)i;
			return true;
		}
	return false;
}

const char *train_loss_name(loss_kind l)
{
	return l == LOSS_CE ? "ce" : l == LOSS_MSE ? "mse" : "bce";
}

bool train_data_is_file(const char *path)
{
	struct stat sb;
	size_t n = strlen(path);
	if (n >= 4 && (!strcasecmp(path + n - 4, ".npz") ||
	               !strcasecmp(path + n - 4, ".csv")))
		return true;
	return !stat(path, &sb) && !S_ISDIR(sb.st_mode);
}

/* bce: every target 0 or 1. */
static bool binary(const nb_tensor *y, size_t *at, double *v)
{
	const float *p = nb_tensor_cdata(y);
	for (size_t i = 0; i < nb_tensor_numel(y); i++)
		if (p[i] != 0 && p[i] != 1) {
			*at = i;
			*v = p[i];
			return false;
		}
	return true;
}

int train_data_load(const char *path, const char *target, loss_kind *loss,
                    bool explicit, double val_split, uint64_t seed,
                    nb_dataset *d)
{
	nb_targets tg = !explicit ? NB_TARGETS_AUTO
	              : *loss == LOSS_CE ? NB_TARGETS_CLASSES : NB_TARGETS_VALUES;
	size_t len = strlen(path);
	bool csv = len >= 4 && !strcasecmp(path + len - 4, ".csv");
	if (csv && !target)
		return cli_usage_error("train", "--data %s: a CSV file needs "
		                       "--target COLUMN (the column to predict)",
		                       path);
	if (!csv && target)
		return cli_usage_error("train", "--target is for CSV files; %s "
		                       "holds arrays x and y", path);
	if (nb_dataset_load(d, path, target, tg, val_split, seed)) {
		fprintf(stderr, "nabla train: %s\n", nb_last_error());
		return nb_last_status() == NB_EINVAL ? CLI_USAGE : CLI_FAIL;
	}
	if (!explicit)
		*loss = d->classes ? LOSS_CE : LOSS_MSE;
	size_t at;
	double v;
	nb_tensor *ys[2] = {d->train_y, d->test_y};
	for (int k = 0; *loss == LOSS_BCE && k < 2; k++)
		if (!binary(ys[k], &at, &v)) {
			fprintf(stderr, "nabla train: %s: --loss bce: %s target %zu is "
			        "%g, not 0 or 1\n", path, k ? "test" : "training",
			        at, v);
			return CLI_FAIL;
		}
	return CLI_OK;
}

int64_t train_data_outputs(const nb_dataset *d, loss_kind loss)
{
	return loss == LOSS_CE ? d->classes : nb_tensor_dim(d->train_y, 1);
}

nb_tensor *train_loss_of(nb_graph *g, loss_kind loss, nb_tensor *out,
                         nb_tensor *y)
{
	if (loss == LOSS_CE)
		return nb_cross_entropy(g, out, y, NULL, -100, NB_REDUCTION_MEAN, 0);
	if (loss == LOSS_MSE)
		return nb_mse_loss(g, out, y, NB_REDUCTION_MEAN);
	return nb_binary_cross_entropy_with_logits(g, out, y, NULL, NULL,
	                                           NB_REDUCTION_MEAN);
}

/* bce: targets whose logit has the right sign (0 counts as negative). */
static size_t sign_correct(const nb_tensor *out, const nb_tensor *y)
{
	size_t ok = 0;
	const float *t = nb_tensor_cdata(y);
	for (size_t i = 0; i < nb_tensor_numel(y); i++)
		ok += (nb_tensor_get(out, i) > 0) == (t[i] > 0.5f);
	return ok;
}

int train_evaluate(nb_module *m, nb_graph *g, loss_kind l,
                   const nb_tensor *x, const nb_tensor *y, size_t batch,
                   double *loss, double *metric)
{
	if (l == LOSS_CE) {
		if (!nb_evaluate(m, g, x, y, batch, loss, metric))
			return CLI_OK;
		fprintf(stderr, "nabla train: %s\n", nb_last_error());
		return CLI_FAIL;
	}
	size_t n = (size_t)nb_tensor_dim(x, 0), ok = 0;
	double total = 0;
	int64_t *idx = malloc((batch < n ? batch : n) * sizeof *idx + 1);
	if (!idx) {
		fprintf(stderr, "nabla train: out of memory\n");
		return CLI_FAIL;
	}
	bool was_training = nb_module_training(m);
	bool was_grad = nb_graph_set_grad_enabled(g, false);
	nb_status st = NB_OK;
	nb_module_set_training(m, false);
	for (size_t at = 0; at < n && !st; at += batch) {
		size_t k = n - at < batch ? n - at : batch;
		nb_tensor *bx, *by;
		for (size_t i = 0; i < k; i++)
			idx[i] = (int64_t)(at + i);
		nb_graph_reset(g);
		if ((st = nb_batch_gather(g, x, y, idx, k, &bx, &by)))
			break;
		nb_tensor *out = nb_module_forward(m, g, bx);
		nb_tensor *lv = train_loss_of(g, l, out, by);
		if (!lv) {
			st = nb_graph_status(g);
			break;
		}
		total += nb_tensor_item(lv) * (double)k;
		if (l == LOSS_BCE)
			ok += sign_correct(out, by);
	}
	nb_module_set_training(m, was_training);
	nb_graph_set_grad_enabled(g, was_grad);
	free(idx);
	if (st) {
		fprintf(stderr, "nabla train: %s\n", nb_graph_errmsg(g));
		return CLI_FAIL;
	}
	*loss = n ? total / (double)n : NAN;
	*metric = l == LOSS_MSE ? *loss
	        : n ? (double)ok / (double)nb_tensor_numel(y) : NAN;
	return CLI_OK;
}
