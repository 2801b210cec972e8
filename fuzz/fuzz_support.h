/* What the libFuzzer targets in fuzz/ share: a stand-in context that records the library's error
 * messages (formatted as src/host/context.c does, so every message of a refusal is built and
 * read), a scratch file that the targets whose API takes a path write each input to, and checks
 * that stop the run with a report (abort, which libFuzzer records as a crash with the input).
 * Built only into the fuzz targets (fuzz/CMakeLists.txt); see docs/fuzzing.md. */
#ifndef NSTYLE_FUZZ_SUPPORT_H
#define NSTYLE_FUZZ_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "nstyle/context.h"
#include "nstyle/status.h"

/* The context the targets pass to the library: a stand-in whose messages are kept here (the
 * parsers use their context only for NST__ERR). */
nst_ctx *fuzz_ctx(void);
/* The last message recorded, "" before any. */
const char *fuzz_last_error(void);
/* Writes data to the target's scratch file (in a private folder made on first use under
 * $TMPDIR, /dev/shm when it exists, else /tmp; removed at exit) and returns its path. */
const char *fuzz_write_scratch(const uint8_t *data, size_t size);
/* Fails the run (abort) with a message when ok is false. */
void fuzz_require(int ok, const char *what);

#endif
