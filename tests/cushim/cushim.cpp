/* The runtime of the CUDA-on-CPU shim (cushim.h, cushim_api.h): launches, fibers, barriers,
 * per-block shared memory, atomics, and the checks.
 *
 * A launch runs its blocks one after another in the configured order (forward, reverse, or a
 * permutation drawn from the seed and the kernel's name). A block's threads each get a fiber
 * (a 64 KiB stack above a guard page; switched by hand on x86-64, by ucontext elsewhere); the
 * scheduler resumes every runnable thread once per round, in the configured thread order
 * (shuffled anew each round), and each runs until it reaches __syncthreads or returns. When none is runnable the round ends: if every live thread waits at the same barrier
 * (the same call site), the barrier opens and the next round starts; threads waiting at
 * different barriers, or threads that returned while others wait, are a finding (CUDA leaves
 * both undefined), and the barrier opens anyway so that the launch ends.
 *
 * The race detector (cushim.h says how it sees accesses) keeps, for every 4 bytes of a shared
 * array or tracked buffer, the last writer (launch, block, thread, barrier interval, atomic or
 * not) and the readers of the latest interval and launch. A barrier interval is the stretch of a
 * block between two barriers; each gets a number of its own. Reported, with the kernel, block,
 * threads and byte offset:
 *   - within one block and interval, a location written by one thread and read or written by
 *     another (a missing barrier), shared or global;
 *   - within one launch, a global location written by one block and read or written by another,
 *     unless both are atomic (nothing orders blocks), and a plain access beside another thread's
 *     atomic one in the same interval or from another block;
 *   - a read of a shared location no thread of the block wrote (it holds the 0xff fill);
 *   - an access to a guard zone (beside a shared array or a tracked buffer).
 * Accesses to memory the detector does not know (the thread's stack, untracked buffers) are not
 * checked, except that in a build with AddressSanitizer those outside the thread's stack are
 * checked against ASan's shadow (the kernels' own code is compiled for the hooks, not for ASan).
 * Not covered: accesses the compiler turns into library calls (GCC's instrumentation does not
 * report memcpy or memset; the kernels make none), overflows of a thread's own stack arrays,
 * memory ordering between threads beyond barriers, and warp-level behaviour.
 * Tested by tests/emul/test_cushim.c (planted bugs, orders, the checks one by one) and used by
 * tests/emul/test_kernel_emul.c. */
#define CUSHIM_RUNTIME
#include "cushim.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define CUSHIM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CUSHIM_ASAN 1
#endif
#endif
#ifdef CUSHIM_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

/* The race detector's hot path (every access of the kernels) is left out of ASan's and UBSan's
 * instrumentation where the runtime is built with them: it touches only the detector's own
 * tables, and it checks the kernels' accesses against ASan's shadow itself. */
#if defined(__GNUC__)
#define CUSHIM_HOT __attribute__((no_sanitize("address", "undefined")))
#else
#define CUSHIM_HOT
#endif

namespace {

constexpr size_t kStackBytes = 64 * 1024;
constexpr size_t kSharedGuard = 64; /* bytes on either side of a shared array */
constexpr int kMaxThreads = 1024;
constexpr int kPrintedPerKind = 3;    /* findings of a kind printed per launch */
constexpr size_t kReportBytes = 16384; /* text kept for cushim_report() */

enum Access { READ, WRITE, ATOMIC };
enum FiberState { RUNNABLE, WAITING, EXITED };

/* What the detector keeps per 4 bytes. Launch 0: never written (or read) in any launch. */
struct Cell {
    uint32_t w_launch, w_interval, w_block;
    uint32_t r_launch, r_interval, r_block;
    uint16_t w_thread, r_thread;
    uint8_t w_atomic, r_many_blocks, r_many_threads, unused;
};

struct Region {
    uintptr_t lo, hi;   /* the array or buffer */
    uintptr_t glo, ghi; /* with its guard zones */
    std::string name;   /* "shared sm (gram.cuh:245)", "global dx" */
    bool shared;
    size_t elem;        /* shared: element size, for offsets in elements */
    Cell *cells;        /* one per 4 bytes of [lo, hi), zeroed */
};

Region *new_region(uintptr_t lo, size_t bytes, size_t guard) {
    Region *r = new Region();
    r->lo = lo, r->hi = lo + bytes;
    r->glo = lo - guard, r->ghi = r->hi + guard;
    r->cells = new Cell[(bytes + 3) / 4 + 1]();
    return r;
}

void delete_region(Region *r) {
    delete[] r->cells;
    delete r;
}

#if defined(__x86_64__) && !defined(CUSHIM_UCONTEXT)
#define CUSHIM_SWITCH 1
#endif

struct Fiber {
#ifdef CUSHIM_SWITCH
    void *sp; /* where cushim_switch left it */
#else
    ucontext_t ctx;
#endif
    char *stack;
    FiberState state;
    const cushim_site *site; /* the barrier it waits at */
#ifdef CUSHIM_ASAN
    void *fake_stack;
#endif
};

struct SharedArray {
    const cushim_shared_site *site;
    char *mem; /* guard, array, guard */
    size_t bytes;
    Region *region;
};

struct Registered {
    const cushim_kernel *k;
    int64_t launches;
};

std::vector<Registered> &registry() {
    static std::vector<Registered> r;
    return r;
}

cushim_config g_config = {CUSHIM_FORWARD, CUSHIM_FORWARD, 0x5eedULL, true};

/* tracked global buffers and the running block's shared arrays, sorted by glo */
std::vector<Region *> g_regions;
Region *const *g_region_list; /* g_regions' elements, for the hot path */
size_t g_region_count;
Region *g_last_region;

std::vector<Fiber> g_fibers;
#ifdef CUSHIM_ASAN
const void *g_main_stack_bottom;
size_t g_main_stack_size;
#endif

/* the launch in progress */
bool g_in_launch;
const Registered *g_kernel;
const void *g_arg;
int64_t g_blocks;
int g_threads;
int64_t g_block;
int g_thread;
Fiber *g_cur;
uint32_t g_launch_id, g_interval;
std::vector<SharedArray> g_shared;
int g_launch_findings;

int g_findings;
std::string g_report;
char g_where[256];

uint64_t mix(uint64_t x) { /* splitmix64's finaliser */
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t hash_name(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* 0 .. n-1 in the order o, shuffled from key. */
template <typename T> void make_order(std::vector<T> &v, cushim_order o, uint64_t key) {
    if (o == CUSHIM_REVERSE) {
        std::reverse(v.begin(), v.end());
    } else if (o == CUSHIM_SHUFFLED) {
        for (size_t i = v.size(); i > 1; i--) {
            key = mix(key);
            std::swap(v[i - 1], v[key % i]);
        }
    }
}

/* The kinds of findings; the first kPrintedPerKind of each kind per launch are printed and kept
 * for cushim_report(), the rest counted. */
enum Kind { RACE, UNWRITTEN, OUTSIDE, BARRIER, OTHER, KINDS };
int g_launch_kind[KINDS];

void vfinding(Kind kind, const char *fmt, va_list ap) {
    char text[1024];
    vsnprintf(text, sizeof text, fmt, ap);
    g_findings++;
    const bool print = !g_in_launch || g_launch_kind[kind] < kPrintedPerKind;
    if (g_in_launch) {
        g_launch_kind[kind]++;
        g_launch_findings++;
    }
    if (print) {
        fprintf(stderr, "cushim: %s: %s\n", cushim_where(), text);
        if (g_report.size() < kReportBytes) {
            g_report += cushim_where();
            g_report += ": ";
            g_report += text;
            g_report += "\n";
        }
    }
}

void finding(Kind kind, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void finding(Kind kind, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfinding(kind, fmt, ap);
    va_end(ap);
}

/* A source file's name without its folders. */
const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* ---- regions ---- */

void regions_changed() {
    g_region_list = g_regions.data();
    g_region_count = g_regions.size();
    g_last_region = nullptr;
}

void insert_region(Region *r) {
    auto at = std::upper_bound(g_regions.begin(), g_regions.end(), r,
                               [](const Region *a, const Region *b) { return a->glo < b->glo; });
    g_regions.insert(at, r);
    regions_changed();
}

void remove_region(Region *r) {
    g_regions.erase(std::find(g_regions.begin(), g_regions.end(), r));
    regions_changed();
}

CUSHIM_HOT Region *find_region(uintptr_t a) {
    if (g_last_region && a >= g_last_region->glo && a < g_last_region->ghi)
        return g_last_region;
    size_t lo = 0, hi = g_region_count; /* the first region whose glo is above a */
    while (lo < hi) {
        const size_t mid = (lo + hi) / 2;
        if (g_region_list[mid]->glo <= a)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || a >= g_region_list[lo - 1]->ghi)
        return nullptr;
    g_last_region = g_region_list[lo - 1];
    return g_last_region;
}

/* "byte 12" of a global buffer, "element 3 (byte 12)" of a shared array */
std::string where_in(const Region *r, uintptr_t a) {
    char s[96];
    const long long off = (long long)(a - r->lo);
    if (r->shared && r->elem > 0 && off >= 0)
        snprintf(s, sizeof s, "element %lld (byte %lld)", off / (long long)r->elem, off);
    else
        snprintf(s, sizeof s, "byte %lld", off);
    return s;
}

const char *verb(Access k) {
    return k == READ ? "reads" : k == WRITE ? "writes" : "atomically updates";
}

/* ---- the race detector ---- */

/* Checks and records access k at a to cell g of r; `quiet`: the access was reported already (at
 * another of its cells). Returns whether it reported. */
CUSHIM_HOT bool check_cell(Region *r, size_t g, uintptr_t a, Access k, bool quiet) {
    Cell &c = r->cells[g];
    const uint32_t L = g_launch_id, I = g_interval, B = (uint32_t)g_block;
    const uint16_t T = (uint16_t)g_thread;
    const bool mine = c.w_launch == L && c.w_block == B && c.w_thread == T;
    const char *what = r->name.c_str();
    auto at = [&] { return where_in(r, a); }; /* only for a finding's text */
    const int before = g_findings;
    if (g_config.races && !quiet) {
        if (k == READ && r->shared && c.w_launch == 0) {
            finding(UNWRITTEN, "thread %d reads %s at %s, which no thread of this block wrote",
                    T, what, at().c_str());
        } else if (c.w_launch == L && !mine && !(k == ATOMIC && c.w_atomic)) {
            const char *how = c.w_atomic ? "atomically updated" : "wrote";
            if (c.w_block != B)
                finding(RACE,
                        "race on %s at %s: thread %d %s it, block %u thread %d %s it in this "
                        "launch (nothing orders blocks)",
                        what, at().c_str(), T, verb(k), c.w_block, c.w_thread, how);
            else if (c.w_interval == I)
                finding(RACE,
                        "race on %s at %s: thread %d %s it, thread %d %s it in the same barrier "
                        "interval (no __syncthreads between them)",
                        what, at().c_str(), T, verb(k), c.w_thread, how);
        }
        if (k != READ && c.r_launch == L) {
            if (c.r_block != B || c.r_many_blocks) {
                if (c.r_block != B)
                    finding(RACE,
                            "race on %s at %s: thread %d %s it, block %u thread %d read it in "
                            "this launch (nothing orders blocks)",
                            what, at().c_str(), T, verb(k), c.r_block, c.r_thread);
                else
                    finding(RACE,
                            "race on %s at %s: thread %d %s it, another block read it in this "
                            "launch (nothing orders blocks)",
                            what, at().c_str(), T, verb(k));
            } else if (c.r_interval == I && (c.r_thread != T || c.r_many_threads)) {
                if (c.r_thread != T)
                    finding(RACE,
                            "race on %s at %s: thread %d %s it, thread %d read it in the same "
                            "barrier interval (no __syncthreads between them)",
                            what, at().c_str(), T, verb(k), c.r_thread);
                else
                    finding(RACE,
                            "race on %s at %s: thread %d %s it, other threads read it in the "
                            "same barrier interval (no __syncthreads between them)",
                            what, at().c_str(), T, verb(k));
            }
        }
    }
    if (k == READ) {
        if (c.r_launch != L) {
            c.r_launch = L, c.r_block = B, c.r_many_blocks = 0;
            c.r_interval = I, c.r_thread = T, c.r_many_threads = 0;
        } else {
            if (c.r_block != B)
                c.r_many_blocks = 1;
            if (c.r_interval != I)
                c.r_interval = I, c.r_thread = T, c.r_many_threads = 0;
            else if (c.r_thread != T)
                c.r_many_threads = 1;
        }
    } else {
        c.w_launch = L, c.w_interval = I, c.w_block = B, c.w_thread = T;
        c.w_atomic = k == ATOMIC;
    }
    return g_findings != before;
}

CUSHIM_HOT void on_access(uintptr_t a, size_t size, Access k) {
    if (!g_in_launch || size == 0)
        return;
    if (g_cur && a - (uintptr_t)g_cur->stack < kStackBytes)
        return; /* the thread's own stack: its locals */
    Region *r = find_region(a);
    if (!r) {
#ifdef CUSHIM_ASAN
        /* memory the detector does not know: ASan's word (a tracked buffer's bounds are the
         * detector's, with guard zones inside its allocation) */
        if (void *bad = __asan_region_is_poisoned((void *)a, size)) {
            finding(OUTSIDE,
                    "thread %d %s %zu bytes at %p, which AddressSanitizer holds invalid (byte "
                    "%p):",
                    g_thread, verb(k), size, (void *)a, bad);
            __asan_describe_address(bad);
            abort();
        }
#endif
        return;
    }
    if (a < r->lo || a + size > r->hi) {
        finding(OUTSIDE, "thread %d %s %zu bytes of %s at %s, outside its %zu bytes", g_thread,
                verb(k), size, r->name.c_str(), where_in(r, a).c_str(), (size_t)(r->hi - r->lo));
        return;
    }
    const size_t g0 = (a - r->lo) / 4, g1 = (a + size - 1 - r->lo) / 4;
    bool quiet = false;
    for (size_t g = g0; g <= g1; g++)
        quiet |= check_cell(r, g, a, k, quiet);
}

/* ---- fibers ----
 * On x86-64 a fiber switch is cushim_switch below: it saves the callee-saved registers, MXCSR
 * and the x87 control word on the stack it leaves and restores them from the one it enters, so
 * no system call is made (glibc's swapcontext sets the signal mask each time, and ASan warns
 * about it). Elsewhere, or with CUSHIM_UCONTEXT defined, ucontext. */
#ifdef CUSHIM_SWITCH
extern "C" void cushim_switch(void **save_sp, void *load_sp);
asm(R"(
    .text
    .globl cushim_switch
    .type cushim_switch, @function
cushim_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size cushim_switch, .-cushim_switch
    .section .note.GNU-stack, "", @progbits
    .text
)");
void *g_main_sp;
#else
ucontext_t g_main;
#endif

void to_fiber(Fiber *f) {
    g_cur = f;
#ifdef CUSHIM_ASAN
    void *fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, f->stack, kStackBytes);
#endif
#ifdef CUSHIM_SWITCH
    cushim_switch(&g_main_sp, f->sp);
#else
    if (swapcontext(&g_main, &f->ctx) != 0) {
        perror("cushim: swapcontext");
        abort();
    }
#endif
#ifdef CUSHIM_ASAN
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
    g_cur = nullptr;
}

void to_main(Fiber *f, bool exiting) {
#ifdef CUSHIM_ASAN
    __sanitizer_start_switch_fiber(exiting ? nullptr : &f->fake_stack, g_main_stack_bottom,
                                   g_main_stack_size);
#else
    (void)exiting;
#endif
#ifdef CUSHIM_SWITCH
    cushim_switch(&f->sp, g_main_sp);
#else
    swapcontext(&f->ctx, &g_main);
#endif
#ifdef CUSHIM_ASAN
    __sanitizer_finish_switch_fiber(f->fake_stack, &g_main_stack_bottom, &g_main_stack_size);
#endif
}

void fiber_main() {
    Fiber *f = g_cur;
#ifdef CUSHIM_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &g_main_stack_bottom, &g_main_stack_size);
#endif
    g_kernel->k->run(g_arg);
    f->state = EXITED;
    to_main(f, true);
    abort(); /* an exited fiber is never resumed */
}

void ensure_fibers(int n) {
    const long page = sysconf(_SC_PAGESIZE);
    while ((int)g_fibers.size() < n) {
        char *m = (char *)mmap(nullptr, kStackBytes + page, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            perror("cushim: mmap of a fiber stack");
            abort();
        }
        mprotect(m, page, PROT_NONE); /* the stack grows down into this page: a fault */
        Fiber f;
        memset(&f, 0, sizeof f);
        f.stack = m + page;
        g_fibers.push_back(f);
    }
}

void start_fiber(Fiber *f) {
#ifdef CUSHIM_ASAN
    ASAN_UNPOISON_MEMORY_REGION(f->stack, kStackBytes); /* frames the last thread left */
#endif
#ifdef CUSHIM_SWITCH
    /* what cushim_switch pops, from the top of the stack down: a null return address for
     * fiber_main's frame, fiber_main as the address to return to, six registers, MXCSR and the
     * x87 control word as they are now; fiber_main starts as called (rsp 8 past 16-aligned) */
    const uintptr_t top = ((uintptr_t)f->stack + kStackBytes) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)(top - 72);
    memset(sp, 0, 72);
    uint32_t csr;
    uint16_t cw;
    asm volatile("stmxcsr %0" : "=m"(csr));
    asm volatile("fnstcw %0" : "=m"(cw));
    memcpy(sp, &csr, sizeof csr);
    memcpy((char *)sp + 4, &cw, sizeof cw);
    sp[7] = (uint64_t)(uintptr_t)&fiber_main;
    f->sp = sp;
#else
    if (getcontext(&f->ctx) != 0) {
        perror("cushim: getcontext");
        abort();
    }
    f->ctx.uc_stack.ss_sp = f->stack;
    f->ctx.uc_stack.ss_size = kStackBytes;
    f->ctx.uc_link = &g_main;
    makecontext(&f->ctx, fiber_main, 0);
#endif
    f->state = RUNNABLE;
    f->site = nullptr;
}

/* "0-127, 200" */
std::string ranges(const std::vector<int> &t) {
    std::string s;
    for (size_t i = 0; i < t.size();) {
        size_t j = i;
        while (j + 1 < t.size() && t[j + 1] == t[j] + 1)
            j++;
        char part[40];
        if (j == i)
            snprintf(part, sizeof part, "%s%d", s.empty() ? "" : ", ", t[i]);
        else
            snprintf(part, sizeof part, "%s%d-%d", s.empty() ? "" : ", ", t[i], t[j]);
        s += part;
        i = j + 1;
    }
    return s;
}

/* After a round with waiting threads: all at one barrier, none exited? */
void check_barrier(bool *exit_reported) {
    std::vector<const cushim_site *> sites;
    std::vector<int> exited;
    for (int t = 0; t < g_threads; t++) {
        if (g_fibers[t].state == EXITED)
            exited.push_back(t);
        else if (std::find(sites.begin(), sites.end(), g_fibers[t].site) == sites.end())
            sites.push_back(g_fibers[t].site);
    }
    g_thread = -1;
    if (sites.size() > 1) {
        std::string text;
        for (const cushim_site *s : sites) {
            std::vector<int> at;
            for (int t = 0; t < g_threads; t++)
                if (g_fibers[t].state == WAITING && g_fibers[t].site == s)
                    at.push_back(t);
            char part[256];
            snprintf(part, sizeof part, "%sthreads %s wait at %s:%d", text.empty() ? "" : "; ",
                     ranges(at).c_str(), base_name(s->file), s->line);
            text += part;
        }
        finding(BARRIER, "barrier divergence: %s", text.c_str());
    }
    if (!exited.empty() && !*exit_reported) {
        *exit_reported = true;
        finding(BARRIER, "barrier divergence: threads %s returned while the others wait at %s:%d",
                ranges(exited).c_str(), base_name(sites[0]->file), sites[0]->line);
    }
}

void free_shared() {
    for (SharedArray &s : g_shared) {
        remove_region(s.region);
        delete_region(s.region);
        free(s.mem);
    }
    g_shared.clear();
}

void run_block(int64_t b, uint64_t key) {
    g_block = b;
    g_interval++;
    for (int t = 0; t < g_threads; t++)
        start_fiber(&g_fibers[t]);
    std::vector<int> order;
    bool exit_reported = false;
    for (uint64_t round = 0;; round++) {
        order.clear();
        for (int t = 0; t < g_threads; t++)
            if (g_fibers[t].state == RUNNABLE)
                order.push_back(t);
        make_order(order, g_config.threads, mix(key ^ mix((uint64_t)b * 1000003ULL + round)));
        for (int t : order) {
            g_thread = t;
            to_fiber(&g_fibers[t]);
        }
        int waiting = 0;
        for (int t = 0; t < g_threads; t++)
            waiting += g_fibers[t].state == WAITING;
        if (waiting == 0)
            break;
        check_barrier(&exit_reported);
        g_interval++;
        for (int t = 0; t < g_threads; t++)
            if (g_fibers[t].state == WAITING)
                g_fibers[t].state = RUNNABLE;
    }
    free_shared();
}

const Registered *find_kernel(const char *name) {
    for (const Registered &r : registry())
        if (strcmp(r.k->name, name) == 0)
            return &r;
    return nullptr;
}

} // namespace

/* ---- the kernels' side ---- */

extern "C" int cushim_register(const cushim_kernel *table, int count) {
    for (int i = 0; i < count; i++) {
        if (find_kernel(table[i].name)) {
            fprintf(stderr, "cushim: kernel %s registered twice\n", table[i].name);
            abort();
        }
        registry().push_back({&table[i], 0});
    }
    return count;
}

extern "C" uint3 cushim_thread_idx(void) {
    return {(unsigned)g_thread, 0, 0};
}
extern "C" uint3 cushim_block_idx(void) {
    return {(unsigned)g_block, 0, 0};
}
extern "C" uint3 cushim_block_dim(void) {
    return {(unsigned)g_threads, 1, 1};
}
extern "C" uint3 cushim_grid_dim(void) {
    return {(unsigned)g_blocks, 1, 1};
}

extern "C" void cushim_syncthreads(const cushim_site *site) {
    Fiber *f = g_cur;
    if (!f) {
        fprintf(stderr, "cushim: __syncthreads outside a launch (%s:%d)\n", site->file,
                site->line);
        abort();
    }
    f->state = WAITING;
    f->site = site;
    const int t = g_thread;
    to_main(f, false);
    g_cur = f;
    g_thread = t;
}

extern "C" void *cushim_shared(const cushim_shared_site *site, size_t elem_size, size_t count,
                               size_t align) {
    if (!g_in_launch) {
        fprintf(stderr, "cushim: shared array %s outside a launch\n", site->name);
        abort();
    }
    const size_t bytes = elem_size * count;
    for (SharedArray &s : g_shared)
        if (s.site == site)
            return s.mem + kSharedGuard;
    if (align > kSharedGuard) {
        fprintf(stderr, "cushim: shared array %s aligned to %zu bytes\n", site->name, align);
        abort();
    }
    void *block = nullptr;
    char *mem = posix_memalign(&block, kSharedGuard, bytes + 2 * kSharedGuard) == 0
                    ? (char *)block
                    : nullptr;
    if (!mem) {
        fprintf(stderr, "cushim: no memory for shared array %s\n", site->name);
        abort();
    }
    memset(mem, 0xff, bytes + 2 * kSharedGuard);
    Region *r = new_region((uintptr_t)(mem + kSharedGuard), bytes, kSharedGuard);
    char name[256];
    snprintf(name, sizeof name, "shared %s (%s:%d)", site->name, base_name(site->file),
             site->line);
    r->name = name;
    r->shared = true;
    r->elem = elem_size;
    insert_region(r);
    g_shared.push_back({site, mem, bytes, r});
    return mem + kSharedGuard;
}

template <typename T> static T atomic_add(T *p, T v) {
    on_access((uintptr_t)p, sizeof *p, ATOMIC);
    const T old = *p;
    *p = old + v;
    return old;
}

extern "C" float cushim_atomic_add_f32(float *p, float v) {
    return atomic_add(p, v);
}
extern "C" double cushim_atomic_add_f64(double *p, double v) {
    return atomic_add(p, v);
}
extern "C" int cushim_atomic_add_i32(int *p, int v) {
    return atomic_add(p, v);
}
extern "C" unsigned cushim_atomic_add_u32(unsigned *p, unsigned v) {
    return atomic_add(p, v);
}

/* ---- the tests' side ---- */

extern "C" void cushim_configure(const cushim_config *c) {
    g_config = *c;
}

extern "C" cushim_config cushim_get_config(void) {
    return g_config;
}

extern "C" void cushim_track(const void *p, size_t bytes, size_t guard, const char *name) {
    Region *r = new_region((uintptr_t)p, bytes, guard);
    r->name = std::string("global ") + name;
    r->shared = false;
    r->elem = 0;
    for (const Region *o : g_regions) {
        if (r->glo < o->ghi && o->glo < r->ghi) {
            fprintf(stderr, "cushim: %s overlaps %s\n", r->name.c_str(), o->name.c_str());
            abort();
        }
    }
    insert_region(r);
}

extern "C" void cushim_untrack(const void *p) {
    for (Region *r : g_regions) {
        if (!r->shared && r->lo == (uintptr_t)p) {
            remove_region(r);
            delete_region(r);
            return;
        }
    }
    fprintf(stderr, "cushim: untrack of %p, which is not tracked\n", p);
    abort();
}

extern "C" void cushim_launch(const char *kernel, int64_t blocks, int threads, const void *arg,
                              size_t arg_size) {
    const Registered *k = find_kernel(kernel);
    if (!k) {
        fprintf(stderr, "cushim: no kernel %s in the table\n", kernel);
        abort();
    }
    if (k->k->arg_size != arg_size) {
        fprintf(stderr, "cushim: %s takes %zu bytes of arguments, given %zu\n", kernel,
                k->k->arg_size, arg_size);
        abort();
    }
    if (g_in_launch) {
        fprintf(stderr, "cushim: launch of %s inside a launch\n", kernel);
        abort();
    }
    const_cast<Registered *>(k)->launches++;
    g_kernel = k;
    g_blocks = blocks, g_threads = threads, g_block = -1, g_thread = -1;
    if (blocks < 1 || blocks > 0x7fffffff || threads < 1 || threads > kMaxThreads) {
        finding(OTHER, "launch of %lld blocks of %d threads (invalid on a GPU)", (long long)blocks,
                threads);
        g_kernel = nullptr;
        return;
    }
    /* the argument, copied as a launch copies it, 16-byte aligned */
    std::vector<max_align_t> copy((arg_size + sizeof(max_align_t) - 1) / sizeof(max_align_t));
    memcpy(copy.data(), arg, arg_size);
    g_arg = copy.data();
    ensure_fibers(threads);
    g_launch_id++;
    g_in_launch = true;
    g_launch_findings = 0;
    for (int &n : g_launch_kind)
        n = 0;
    const uint64_t key = mix(g_config.seed ^ hash_name(kernel));
    std::vector<int64_t> order((size_t)blocks);
    for (int64_t b = 0; b < blocks; b++)
        order[(size_t)b] = b;
    make_order(order, g_config.blocks, key);
    for (int64_t b : order)
        run_block(b, key);
    int printed = 0;
    for (int kind = 0; kind < KINDS; kind++)
        printed += std::min(g_launch_kind[kind], kPrintedPerKind);
    if (g_launch_findings > printed)
        fprintf(stderr, "cushim: kernel %s: %d more findings in this launch\n", kernel,
                g_launch_findings - printed);
    g_in_launch = false;
    g_kernel = nullptr;
    g_block = -1, g_thread = -1;
}

extern "C" int cushim_findings(void) {
    return g_findings;
}

extern "C" const char *cushim_report(void) {
    return g_report.c_str();
}

extern "C" void cushim_reset(void) {
    g_findings = 0;
    g_report.clear();
}

extern "C" int cushim_kernel_count(void) {
    return (int)registry().size();
}
extern "C" const char *cushim_kernel_name(int i) {
    return registry()[(size_t)i].k->name;
}
extern "C" const char *cushim_kernel_file(int i) {
    return registry()[(size_t)i].k->file;
}
extern "C" int64_t cushim_kernel_launches(int i) {
    return registry()[(size_t)i].launches;
}

extern "C" const char *cushim_where(void) {
    if (!g_kernel)
        snprintf(g_where, sizeof g_where, "no launch");
    else if (g_block < 0)
        snprintf(g_where, sizeof g_where, "kernel %s", g_kernel->k->name);
    else
        snprintf(g_where, sizeof g_where, "kernel %s, block %lld", g_kernel->k->name,
                 (long long)g_block);
    return g_where;
}

extern "C" void cushim_finding(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfinding(OTHER, fmt, ap);
    va_end(ap);
}

/* ---- the ThreadSanitizer hooks the kernels' instrumented code calls ---- */

#define CUSHIM_HOOKS(N)                                                                    \
    extern "C" CUSHIM_HOT void __tsan_read##N(void *a) {                                   \
        on_access((uintptr_t)a, N, READ);                                                  \
    }                                                                                      \
    extern "C" CUSHIM_HOT void __tsan_write##N(void *a) {                                  \
        on_access((uintptr_t)a, N, WRITE);                                                 \
    }                                                                                      \
    extern "C" CUSHIM_HOT void __tsan_unaligned_read##N(void *a) {                         \
        on_access((uintptr_t)a, N, READ);                                                  \
    }                                                                                      \
    extern "C" CUSHIM_HOT void __tsan_unaligned_write##N(void *a) {                        \
        on_access((uintptr_t)a, N, WRITE);                                                 \
    }
CUSHIM_HOOKS(1)
CUSHIM_HOOKS(2)
CUSHIM_HOOKS(4)
CUSHIM_HOOKS(8)
CUSHIM_HOOKS(16)

extern "C" void __tsan_read_range(void *a, size_t n) {
    on_access((uintptr_t)a, n, READ);
}
extern "C" void __tsan_write_range(void *a, size_t n) {
    on_access((uintptr_t)a, n, WRITE);
}
/* Clang's instrumentation calls these for memcpy, memmove and memset */
extern "C" void *__tsan_memcpy(void *d, const void *s, size_t n) {
    on_access((uintptr_t)s, n, READ);
    on_access((uintptr_t)d, n, WRITE);
    return memcpy(d, s, n);
}
extern "C" void *__tsan_memmove(void *d, const void *s, size_t n) {
    on_access((uintptr_t)s, n, READ);
    on_access((uintptr_t)d, n, WRITE);
    return memmove(d, s, n);
}
extern "C" void *__tsan_memset(void *d, int c, size_t n) {
    on_access((uintptr_t)d, n, WRITE);
    return memset(d, c, n);
}
extern "C" void __tsan_init(void) {}
extern "C" void __tsan_func_entry(void *) {}
extern "C" void __tsan_func_exit(void) {}
extern "C" void __tsan_vptr_update(void **, void *) {}
extern "C" void __tsan_vptr_read(void **) {}
