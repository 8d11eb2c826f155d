/*
 * plot.h - a figure drawn with cairo into a PNG or SVG file (chosen by
 * the file name), for `nabla initlab`'s histograms and its --rnn
 * gradients through time.  cairo is optional: without it plot_file
 * fails with a message.
 */
#ifndef NB_PLOT_H
#define NB_PLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <nabla/nabla.h>

#ifdef HAVE_CAIRO
#include <cairo.h>
typedef void (*plot_draw)(cairo_t *cr, const void *ctx);
/* Text at (x, y), its width times align (0 left, 0.5 centred, 1 right)
 * to the left of x; sans-serif, size in points. */
void plot_text(cairo_t *cr, double x, double y, double size, bool bold,
               double align, const char *s);
#else
typedef void (*plot_draw)(void *cr, const void *ctx);
#endif

/* Whether this build can plot (cairo). */
bool plot_available(void);
/* Whether file's name ends in .png or .svg (what plot_file writes). */
bool plot_name_ok(const char *file);
/*
 * Calls draw(cr, ctx) on a w x h figure and writes it to file, PNG or
 * SVG by its extension.  NB_EINVAL for another extension or a build
 * without cairo, NB_EIO when the file cannot be written; the message in
 * err.  cairo's and fontconfig's caches are released after, so that
 * leak checkers see a clean exit.
 */
nb_status plot_file(const char *file, double w, double h, plot_draw draw,
                    const void *ctx, char *err, size_t errn);

#endif
