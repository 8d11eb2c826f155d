/*
 * nabla/plugin.h - ops and layers from shared objects.
 *
 * A plugin is a shared object (cc -shared -fPIC) that defines
 *
 *   nb_status nb_plugin_init(void);      (NB_PLUGIN_INIT below)
 *
 * which registers its ops with nb_op_register() and its spec layers
 * with nb_layer_register() (nabla/model.h) and returns NB_OK (or a
 * status, with nb_last_error() saying why).  Once loaded, its ops are
 * built-in ones in every respect: nb_call, `nabla ops`, `nabla
 * gradcheck`, and, for ops flagged NB_OP_LAYER, the model spec language
 * of `nabla train`, `nabla dot` and nb_model_parse.  The CLI loads
 * plugins named by `nabla --plugin FILE` (repeatable) and by the
 * environment variable NABLA_PLUGINS (paths separated by ':').
 * doc/examples/plugin_softclip.c is a complete one; doc/extending.md
 * explains it.
 */
#ifndef NABLA_PLUGIN_H
#define NABLA_PLUGIN_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The entry point every plugin defines (with default visibility); write
 *   NB_PLUGIN_INIT { return nb_op_register(&my_op); }
 * which declares and defines nb_status nb_plugin_init(void).
 */
typedef nb_status (*nb_plugin_init_fn)(void);
#define NB_PLUGIN_INIT_SYMBOL "nb_plugin_init"
#define NB_PLUGIN_INIT \
	nb_status nb_plugin_init(void); \
	nb_status nb_plugin_init(void)

/*
 * Loads the shared object at path (a name without '/' is searched as
 * dlopen(3) does) and runs its nb_plugin_init.  Loading the same object
 * again does nothing and returns NB_OK.  A loaded plugin stays loaded
 * for the life of the process (its ops point into it).  Not thread-safe,
 * like nb_op_register: load plugins before other threads use nabla.
 * Errors, each naming the file: NB_EINVAL (NULL or empty path), NB_EIO
 * (dlopen failed: dlerror's reason), NB_ENOTFOUND (no nb_plugin_init:
 * not a nabla plugin; the object is unloaded), or the status
 * nb_plugin_init returned, with its message (ops it registered before
 * failing stay registered).
 */
nb_status nb_plugin_load(const char *path);

#ifdef __cplusplus
}
#endif
#endif
