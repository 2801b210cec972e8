/* Status names and descriptions from the one X-macro list in include/nstyle/status.h. */
#include "nstyle/status.h"

const char *nst_strerror(nst_status s) {
    switch (s) {
#define NST__CASE(name, desc) \
    case NST_##name:          \
        return desc;
        NST_STATUS_LIST(NST__CASE)
#undef NST__CASE
    default:
        return "unknown status";
    }
}

const char *nst_status_name(nst_status s) {
    switch (s) {
#define NST__CASE(name, desc) \
    case NST_##name:          \
        return #name;
        NST_STATUS_LIST(NST__CASE)
#undef NST__CASE
    default:
        return "UNKNOWN";
    }
}
