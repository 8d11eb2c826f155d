/*
 * nabla/text.h - text for character language models: a corpus and its
 * alphabet, the windows of truncated backpropagation through time, and
 * drawing the next character from a model's logits.
 *
 * A corpus is a file's bytes; its alphabet (the "vocabulary") is the
 * distinct bytes that occur, numbered in byte order, so the same text
 * gives the same ids everywhere.  The last `held_out` fraction of the
 * bytes is kept apart for evaluation (bits per character), as the
 * char-rnn recipes do; the rest trains.
 *
 * Windows follow char-rnn's layout: a split of L ids is cut into B
 * contiguous streams of S = floor(L / B) ids, and window k holds, for
 * every stream b, the ids at b*S + k*T + [0, T) as input and the ids one
 * further on as target.  So row b of window k + 1 continues row b of
 * window k, and a recurrent net may carry its (detached) state from one
 * window to the next: truncated backpropagation through time.
 */
#ifndef NABLA_TEXT_H
#define NABLA_TEXT_H

#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nb_text nb_text;

typedef enum nb_text_split {
	NB_TEXT_TRAIN = 0,
	NB_TEXT_HELD_OUT = 1
} nb_text_split;

/* The largest corpus nb_text_load reads (4 GiB). */
#define NB_TEXT_MAX_BYTES ((uint64_t)1 << 32)

/*
 * Reads path whole (a regular file of at most NB_TEXT_MAX_BYTES) and
 * keeps its last held_out fraction (in [0, 0.5]) apart.  NULL on error
 * with nb_last_error(): NB_EIO (cannot open or read it, a directory, too
 * large), NB_EFORMAT (empty), NB_EINVAL (NULL path, held_out out of
 * range), NB_ENOMEM.  Free with nb_text_free.
 */
nb_text *nb_text_load(const char *path, double held_out);
/* The same from n bytes in memory (copied). */
nb_text *nb_text_from_bytes(const void *bytes, size_t n, double held_out);
/*
 * An alphabet without text, from nb_text_vocab_hex's string (as kept in
 * a checkpoint's metadata): for sampling from a saved model.  NULL with
 * NB_EFORMAT for a string that is not 2 hex digits per byte of distinct
 * bytes in increasing order, NB_EINVAL for NULL.
 */
nb_text *nb_text_from_vocab_hex(const char *hex);
void nb_text_free(nb_text *t); /* NULL: a no-op */

/* The alphabet's size (0 for NULL). */
int nb_text_vocab_size(const nb_text *t);
/* The id of byte c, or -1 when c is not in the alphabet (or t NULL). */
int64_t nb_text_id(const nb_text *t, unsigned char c);
/* The byte of id (0 for an id out of range or a NULL t). */
unsigned char nb_text_byte(const nb_text *t, int64_t id);
/*
 * The alphabet as lowercase hex, 2 digits per byte, into buf (n bytes,
 * NUL-terminated when n > 0); returns the length the string needs
 * (without the NUL), as snprintf; 0 for a NULL t.
 */
size_t nb_text_vocab_hex(const nb_text *t, char *buf, size_t n);
/* The number of ids in a split (0 for NULL or an alphabet-only t). */
size_t nb_text_len(const nb_text *t, nb_text_split split);
/* The ids of a split (borrowed, nb_text_len of them), or NULL. */
const int64_t *nb_text_ids(const nb_text *t, nb_text_split split);

/*
 * How many windows of T steps a split gives for `batch` streams:
 * floor((floor(L / batch) - 1) / T), 0 when the split is too short (or
 * batch or T < 1).
 */
size_t nb_text_windows(const nb_text *t, nb_text_split split,
                       int64_t batch, int64_t steps);
/*
 * Window k as int64 graph tensors of g: *x the inputs [batch, steps],
 * *y the targets [batch, steps] (each input's next id).  Errors are
 * recorded on g and the results are NULL: NB_EINVAL for k past
 * nb_text_windows, bad sizes or a NULL argument.
 */
nb_status nb_text_window(nb_graph *g, const nb_text *t, nb_text_split split,
                         int64_t batch, int64_t steps, size_t k,
                         nb_tensor **x, nb_tensor **y);

/*
 * A draw from softmax(logits / temperature) over the last axis of
 * logits (a float tensor of V elements: [V] or [1, V], persistent or of
 * a graph), restricted to the top_k largest logits when top_k > 0 (as
 * the usual recipe: every logit below the k-th largest is dropped, so
 * ties with the k-th are kept).  temperature 0 gives the first largest
 * logit (greedy, as argmax).  Probabilities are computed in double,
 * shifted by the largest logit; one uniform is drawn from r.  Returns
 * the index, or -1 with nb_last_error(): NB_EINVAL (NULL logits or r, a
 * tensor of more than one row or of no element, a negative or NaN
 * temperature, a negative top_k, a NaN logit, or none above -inf),
 * NB_EDTYPE (not float).  A logit of +inf wins outright (the first).
 */
int64_t nb_sample_categorical(const nb_tensor *logits, double temperature,
                              int64_t top_k, nb_rng *r);

#ifdef __cplusplus
}
#endif
#endif
