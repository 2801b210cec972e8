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

#endif
