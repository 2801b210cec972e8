/* Internal pieces shared by the planner, the arena and the tracker reports: the tracker entry for
 * an arena's split allocation, a bounded text builder with snprintf semantics, and the
 * "biggest consumers" description used by the budget check and by arena failures. */
#ifndef NSTYLE_MEMORY_INTERNAL_H
#define NSTYLE_MEMORY_INTERNAL_H

#include <stddef.h>

#include "core.h"
#include "nstyle/memory.h"
#include "plan_run.h"

/* Records one allocation of `bytes` spread over the tracker rows as split[] says (tags, then
 * NST__TRACK_SLACK); the entries must sum to bytes. Removed by nst__tracker_remove(). */
nst_status nst__tracker_add_split(nst_ctx *ctx, void *ptr, size_t bytes,
                                  const size_t split[NST__TRACK_ROWS]);

/* Sets the size of a recorded buffer (the op-scratch buffer, whose size is known only when its
 * recording pass ends). */
void nst__plan_set_bytes(nst_plan *plan, int id, size_t bytes);

/* How many buffers the plan behind an arena held. */
int nst__arena_count(const nst_arena *arena);

/* Writes into buf[0, size) and counts every character asked for, like snprintf: len may exceed
 * size, and the text is NUL-terminated whenever size > 0. */
typedef struct {
    char *buf;
    size_t size;
    size_t len;
} nst__text;

nst__text nst__text_init(char *buf, size_t size);
void nst__text_printf(nst__text *t, const char *fmt, ...) NST__PRINTF(2, 3);

/* bytes in MiB, the unit every memory message uses. */
static inline double nst__mib(size_t bytes) { return (double)bytes / 1048576.0; }

/* Appends the plan's biggest consumers at its peak step: the tags, largest first, then up to
 * max_labels buffers live at that step, largest first ("'relu1_1 out' (activations) 24.0 MiB").
 * The plan must be solved. */
void nst__plan_consumers(const nst_plan *plan, int max_labels, nst__text *t);

#endif
