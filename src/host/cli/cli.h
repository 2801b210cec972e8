/* The CLI's commands; each parses its own options with getopt_long and returns an exit code. */
#ifndef NSTYLE_CLI_H
#define NSTYLE_CLI_H

enum { NST_EXIT_OK = 0, NST_EXIT_FAILURE = 1, NST_EXIT_USAGE = 2 };

int nst_cli_info(int argc, char **argv);
int nst_cli_convert(int argc, char **argv);
int nst_cli_stylize(int argc, char **argv);
int nst_cli_render(int argc, char **argv);
int nst_cli_plan(int argc, char **argv);
int nst_cli_train(int argc, char **argv);

#include <stdbool.h>

/* A whole decimal integer (or any finite number) within [lo, hi] into *out; false otherwise,
 * *out untouched. */
bool nst_cli_parse_long(const char *s, long lo, long hi, long *out);
bool nst_cli_parse_double(const char *s, double lo, double hi, double *out);

/* Parses "WxH" (e.g. 768x512) into positive ints; returns 0 on success. */
int nst_cli_parse_size(const char *s, int *w, int *h);

#endif
