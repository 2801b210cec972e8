/* The CLI's option parsing (args.h): usage errors, numbers, sizes, lists, and the render
 * options that change memory, which `nstyle render` and `nstyle plan` both take. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"

int nst_cli_usage_error(const char *command, const char *fmt, const char *arg) {
    fprintf(stderr, "nstyle %s: ", command);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nRun `nstyle %s --help` for usage.\n", command);
    return NST_EXIT_USAGE;
}

bool nst_cli_parse_long(const char *s, long lo, long hi, long *out) {
    /* digits, with a minus sign at most: no spaces, no plus sign, nothing after */
    const char *d = s && *s == '-' ? s + 1 : s;
    if (!d || *d < '0' || *d > '9')
        return false;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

bool nst_cli_parse_int(const char *s, long lo, long hi, int *out) {
    long v;
    if (!nst_cli_parse_long(s, lo, hi, &v))
        return false;
    *out = (int)v;
    return true;
}

bool nst_cli_parse_double(const char *s, double lo, double hi, double *out) {
    char *end = NULL;
    errno = 0;
    double v = s && *s ? strtod(s, &end) : 0;
    if (!s || !*s || errno || *end || !isfinite(v) || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}


int nst_cli_parse_size(const char *s, int *w, int *h) {
    if (!s || !w || !h)
        return -1;
    const char *x = strchr(s, 'x');
    if (!x)
        x = strchr(s, 'X');
    if (!x || x == s || x - s > 10)
        return -1;
    char width[16];
    memcpy(width, s, (size_t)(x - s));
    width[x - s] = '\0';
    int pw, ph;
    if (!nst_cli_parse_int(width, 1, INT_MAX, &pw) || !nst_cli_parse_int(x + 1, 1, INT_MAX, &ph))
        return -1;
    *w = pw;
    *h = ph;
    return 0;
}

int nst_cli_parse_list(const char *text, double lo, double hi, double *v, int max) {
    char buf[1024];
    const size_t len = strlen(text);
    if (len == 0 || len >= sizeof buf || text[0] == ',' || text[len - 1] == ',' ||
        strstr(text, ",,"))
        return -1;
    memcpy(buf, text, len + 1);
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (n == max || !nst_cli_parse_double(tok, lo, hi, &v[n]))
            return -1;
        n++;
    }
    return n;
}

/* ---- the render options that change memory ------------------------------------------------- */

bool nst_cli_is_memory_option(int c) { return c >= NST_CLI_MEM_FIRST && c <= NST_CLI_MEM_LAST; }

int nst_cli_memory_option(const char *command, int c, const char *v, nst_render_options *o,
                          nst_cli_memory_args *m) {
    switch (c) {
    case NST_CLI_MEM_CONTENT_LAYERS:
        o->content_layers = v;
        return -1; /* plan takes the layers in both modes */
    case NST_CLI_MEM_STYLE_LAYERS:
        o->style_layers = v;
        return -1;
    case NST_CLI_MEM_POOLING:
        m->given = "--pooling";
        if (strcmp(v, "max") == 0)
            o->pooling = NST_POOL_MAX;
        else if (strcmp(v, "avg") == 0)
            o->pooling = NST_POOL_AVG;
        else
            return nst_cli_usage_error(command, "--pooling wants max or avg (got '%s')", v);
        return -1;
    case NST_CLI_MEM_OPTIMIZER:
        m->given = "--optimizer";
        if (strcmp(v, "adam") == 0)
            o->optimizer = NST_OPTIMIZER_ADAM;
        else if (strcmp(v, "lbfgs") == 0)
            o->optimizer = NST_OPTIMIZER_LBFGS;
        else
            return nst_cli_usage_error(command, "--optimizer wants adam or lbfgs (got '%s')", v);
        return -1;
    case NST_CLI_MEM_HISTORY:
        m->given = "--lbfgs-history";
        if (!nst_cli_parse_int(v, 1, 1000, &o->lbfgs_history))
            return nst_cli_usage_error(command, "--lbfgs-history wants a whole number 1..1000 "
                                                "(got '%s')", v);
        return -1;
    case NST_CLI_MEM_LINE_SEARCH:
        m->given = "--line-search";
        m->line_search_given = true;
        if (strcmp(v, "none") == 0)
            o->lbfgs_line_search = NST_LINE_SEARCH_NONE;
        else if (strcmp(v, "strong-wolfe") == 0)
            o->lbfgs_line_search = NST_LINE_SEARCH_STRONG_WOLFE;
        else
            return nst_cli_usage_error(command, "--line-search wants none or strong-wolfe (got "
                                                "'%s')", v);
        return -1;
    case NST_CLI_MEM_SCALES:
        m->given = "--scales";
        if (!nst_cli_parse_int(v, 1, NST_RENDER_MAX_SCALES, &m->scales))
            return nst_cli_usage_error(command, "--scales wants a whole number 1..8 (got '%s')",
                                       v);
        return -1;
    case NST_CLI_MEM_NORMGRAD:
        m->given = "--normalize-gradients";
        o->normalize_gradients = true;
        return -1;
    default:
        return nst_cli_usage_error(command, "unknown option (code %s)", "?");
    }
}
