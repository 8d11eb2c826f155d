/*
 * plugin.c - loading shared objects that register ops (nabla/plugin.h).
 */
#include <dlfcn.h>
#include "internal.h"
#include "nabla/plugin.h"

/* The plugins loaded so far (their dlopen handles), so that a second
 * load of one is a no-op rather than a second registration. */
#define MAX_PLUGINS 64
static void *loaded[MAX_PLUGINS];
static int n_loaded;

static bool already_loaded(void *h)
{
	for (int i = 0; i < n_loaded; i++)
		if (loaded[i] == h)
			return true;
	return false;
}

nb_status nb_plugin_load(const char *path)
{
	if (!path || !*path)
		return nb__set_error(NB_EINVAL, "plugin: path is %s",
		                     path ? "empty" : "NULL");
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		const char *why = dlerror();
		return nb__set_error(NB_EIO, "plugin %s: cannot load: %s", path,
		                     why ? why : "unknown reason");
	}
	if (already_loaded(h)) {
		dlclose(h); /* drops the count this dlopen added */
		return NB_OK;
	}
	if (n_loaded == MAX_PLUGINS) {
		dlclose(h);
		return nb__set_error(NB_EINVAL, "plugin %s: more than %d plugins",
		                     path, MAX_PLUGINS);
	}
	/* A function pointer from dlsym's void *: POSIX guarantees the
	 * conversion; memcpy keeps ISO C quiet about it. */
	void *sym = dlsym(h, NB_PLUGIN_INIT_SYMBOL);
	if (!sym) {
		dlclose(h);
		return nb__set_error(NB_ENOTFOUND, "plugin %s: no %s function "
		                     "(is it a nabla plugin?)", path,
		                     NB_PLUGIN_INIT_SYMBOL);
	}
	nb_plugin_init_fn init;
	memcpy(&init, &sym, sizeof init);
	/* Kept loaded from here on, even if init fails: it may have
	 * registered ops that point into it. */
	loaded[n_loaded++] = h;
	nb_status st = init();
	if (st) {
		/* The plugin's own message, copied: setting ours reuses the
		 * buffer it lives in. */
		char why[512] = "";
		if (nb_last_status() == st)
			snprintf(why, sizeof why, ": %s", nb_last_error());
		return nb__set_error(st, "plugin %s: %s failed (%s)%s", path,
		                     NB_PLUGIN_INIT_SYMBOL, nb_strerror(st), why);
	}
	return NB_OK;
}
