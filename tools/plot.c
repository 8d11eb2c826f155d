/*
 * plot.c - writing a cairo figure to a PNG or SVG file (plot.h).
 */
#include "config.h"
#include <stdio.h>
#include <string.h>
#include "plot.h"

bool plot_name_ok(const char *file)
{
	const char *dot = strrchr(file, '.');
	return dot && (!strcmp(dot, ".png") || !strcmp(dot, ".svg"));
}

#ifdef HAVE_CAIRO
#include <cairo-svg.h>
#ifdef HAVE_FONTCONFIG
#include <fontconfig/fontconfig.h>
#endif

bool plot_available(void) { return true; }

void plot_text(cairo_t *cr, double x, double y, double size, bool bold,
               double align, const char *s)
{
	cairo_text_extents_t e;
	cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
	                       bold ? CAIRO_FONT_WEIGHT_BOLD
	                            : CAIRO_FONT_WEIGHT_NORMAL);
	cairo_set_font_size(cr, size);
	cairo_text_extents(cr, s, &e);
	cairo_move_to(cr, x - align * e.x_advance, y);
	cairo_show_text(cr, s);
}

nb_status plot_file(const char *file, double w, double h, plot_draw draw,
                    const void *ctx, char *err, size_t errn)
{
	if (!plot_name_ok(file)) {
		snprintf(err, errn, "'%s': the file name must end in .png or .svg",
		         file);
		return NB_EINVAL;
	}
	bool svg = !strcmp(strrchr(file, '.'), ".svg");
	cairo_surface_t *s = svg ? cairo_svg_surface_create(file, w, h)
	                         : cairo_image_surface_create(CAIRO_FORMAT_RGB24,
	                                                      (int)w, (int)h);
	cairo_t *cr = cairo_create(s);
	draw(cr, ctx);
	cairo_status_t st = cairo_status(cr);
	cairo_destroy(cr);
	if (!st && !svg)
		st = cairo_surface_write_to_png(s, file);
	cairo_surface_finish(s);
	if (!st)
		st = cairo_surface_status(s);
	cairo_surface_destroy(s);
	/* Release cairo's and fontconfig's caches, so that leak checkers
	 * see a clean exit (both re-initialize if another plot follows). */
	cairo_debug_reset_static_data();
#ifdef HAVE_FONTCONFIG
	FcFini();
#endif
	if (st) {
		snprintf(err, errn, "cannot write '%s': %s", file,
		         cairo_status_to_string(st));
		return NB_EIO;
	}
	return NB_OK;
}

#else /* !HAVE_CAIRO */

bool plot_available(void) { return false; }

nb_status plot_file(const char *file, double w, double h, plot_draw draw,
                    const void *ctx, char *err, size_t errn)
{
	(void)w;
	(void)h;
	(void)draw;
	(void)ctx;
	snprintf(err, errn, "cannot draw '%s': nabla was built without cairo "
	         "(install libcairo2-dev and reconfigure)", file);
	return NB_EINVAL;
}

#endif
