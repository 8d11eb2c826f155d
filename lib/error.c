/*
 * error.c - status names and the thread's last error.
 */
#include <stdio.h>
#include "internal.h"

static const char *const names[NB_STATUS_COUNT] = {
	[NB_OK] = "success",
	[NB_ENOMEM] = "out of memory",
	[NB_EINVAL] = "invalid argument",
	[NB_ESHAPE] = "shape mismatch",
	[NB_EDTYPE] = "wrong dtype",
	[NB_ENOTFOUND] = "not found",
	[NB_EEXIST] = "already exists",
	[NB_ESTALE] = "tensor of a reset graph",
	[NB_EIO] = "input/output error",
	[NB_EFORMAT] = "malformed input",
	[NB_ENONFINITE] = "non-finite value",
	[NB_ESTATE] = "invalid state",
};

const char *nb_strerror(nb_status st)
{
	if ((unsigned)st >= NB_STATUS_COUNT)
		return "unknown status";
	return names[st];
}

static _Thread_local nb_status last_status;
static _Thread_local char last_msg[512];

nb_status nb_last_status(void)
{
	return last_status;
}

const char *nb_last_error(void)
{
	return last_msg;
}

nb_status nb__vset_error(nb_status code, const char *fmt, va_list ap)
{
	/* Through a copy: the arguments may point into last_msg itself, as
	 * in nb__graph_fail(g, st, "%s", nb_last_error()), and vsnprintf
	 * from a buffer into itself is undefined (glibc leaves ""). */
	char buf[sizeof last_msg];
	vsnprintf(buf, sizeof buf, fmt, ap);
	memcpy(last_msg, buf, sizeof buf);
	last_status = code;
	return code;
}

nb_status nb__set_error(nb_status code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	nb__vset_error(code, fmt, ap);
	va_end(ap);
	return code;
}
