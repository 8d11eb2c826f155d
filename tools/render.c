/*
 * render.c - DOT text to SVG or PNG through Graphviz: in process with
 * libgvc when nabla was built with it, else by running the `dot`
 * program found on PATH.  NABLA_DOT_RENDERER=libgvc|program picks one;
 * NABLA_DOT_PROGRAM names another program than `dot`.
 */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "config.h"
#include "cli.h"
#ifdef HAVE_GVC
#include <gvc.h>
#endif

extern char **environ;

const char *cli_renderer(void)
{
	const char *e = getenv("NABLA_DOT_RENDERER");
	if (e && *e)
		return e;
#ifdef HAVE_GVC
	return "libgvc";
#else
	return "program";
#endif
}

#ifdef HAVE_GVC
static int render_gvc(const char *dot, const char *fmt, const char *out)
{
	int rc = CLI_FAIL;
	char *data = NULL;
	unsigned int len = 0;
	/* Rendered into memory, then written here: gvRenderFilename returns
	 * 0 (success) when it cannot open the file, and libgvc's own writes
	 * call exit(1) when one fails. */
	FILE *f = out ? fopen(out, "wb") : stdout;
	if (!f) {
		fprintf(stderr, "nabla dot: cannot open '%s' for writing: %s\n",
		        out, strerror(errno));
		return CLI_FAIL;
	}
	GVC_t *gvc = gvContext();
	Agraph_t *g = gvc ? agmemread(dot) : NULL;
	if (!g) {
		fprintf(stderr, "nabla dot: libgvc could not read the graph\n");
		goto done;
	}
	if (gvLayout(gvc, g, "dot")) {
		fprintf(stderr, "nabla dot: libgvc could not lay out the "
		        "graph\n");
		goto done;
	}
	if (gvRenderData(gvc, g, fmt, &data, &len) != 0)
		fprintf(stderr, "nabla dot: libgvc could not render %s\n", fmt);
	else if (fwrite(data, 1, len, f) != len || fflush(f))
		fprintf(stderr, "nabla dot: writing %s failed: %s\n",
		        out ? out : "the output", strerror(errno));
	else
		rc = CLI_OK;
	gvFreeRenderData(data);
	gvFreeLayout(gvc, g);
done:
	if (g)
		agclose(g);
	if (gvc)
		gvFreeContext(gvc);
	if (out && fclose(f) && rc == CLI_OK) {
		fprintf(stderr, "nabla dot: writing %s failed: %s\n", out,
		        strerror(errno));
		rc = CLI_FAIL;
	}
	return rc;
}
#endif

/* Runs `dot -T<fmt> [-o out]` with the text on its standard input. */
static int render_program(const char *dot, size_t len, const char *fmt,
                          const char *out)
{
	const char *prog = getenv("NABLA_DOT_PROGRAM");
	char tfmt[16];
	int fds[2], status, err;
	pid_t pid;
	if (!prog || !*prog)
		prog = "dot";
	snprintf(tfmt, sizeof tfmt, "-T%s", fmt);
	char *argv[] = {(char *)prog, tfmt, out ? "-o" : NULL, (char *)out,
	                NULL};
	posix_spawn_file_actions_t fa;
	if (pipe(fds))
		return perror("nabla dot: pipe"), CLI_FAIL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
	posix_spawn_file_actions_addclose(&fa, fds[1]);
	err = posix_spawnp(&pid, prog, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(fds[0]);
	if (err) {
		close(fds[1]);
		fprintf(stderr, "nabla dot: cannot render %s: the Graphviz "
		        "program '%s' %s (%s); install graphviz, or write DOT "
		        "with -T dot\n", fmt, prog, err == ENOENT ? "was not "
		        "found" : "could not be started", strerror(err));
		return CLI_FAIL;
	}
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fds[1], dot + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(fds[1]);
	signal(SIGPIPE, old);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return CLI_OK;
	fprintf(stderr, "nabla dot: the Graphviz program '%s' failed to "
	        "render %s\n", prog, fmt);
	return CLI_FAIL;
}

int cli_render(const char *dot, size_t len, const char *fmt,
               const char *out)
{
	const char *r = cli_renderer();
	if (!strcmp(r, "program"))
		return render_program(dot, len, fmt, out);
#ifdef HAVE_GVC
	if (!strcmp(r, "libgvc"))
		return render_gvc(dot, fmt, out);
#endif
	fprintf(stderr, "nabla dot: cannot render %s with '%s': this nabla "
	        "was built %s; NABLA_DOT_RENDERER takes %s\n", fmt, r,
#ifdef HAVE_GVC
	        "with libgvc", "libgvc or program"
#else
	        "without libgvc", "program (the Graphviz 'dot' program)"
#endif
	        );
	return CLI_FAIL;
}
