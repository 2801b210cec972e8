/* Batch manifests (src/host/cli/manifest.c, compiled in, and manifest_run.c through the built
 * CLI; docs/cluster.md):
 *  - the file: fields, options, comments, blank lines, CRLF, line numbers; each malformed line,
 *    a shared output, an empty file and a missing one refused with the line named;
 *  - the shard: --shard I/N and its bad values, Slurm's (ID - MIN) / STEP of COUNT (a step of
 *    2, a missing step, gaps refused), Kubernetes' JOB_COMPLETION_INDEX of NSTYLE_SHARD_COUNT,
 *    the order between them, and every job in exactly one shard for 1..7 shards;
 *  - the thread count (--threads, SLURM_CPUS_PER_TASK, cores), the summary's name;
 *  - cleaning: only the temporaries of the same output go;
 *  - end to end with a synthetic TransformerNet: two shards write every output once, the same
 *    bytes as a plain `nstyle stylize` of the image; a rerun skips every job without touching
 *    the files; a run after a killed one removes that output's temporaries (and no other file),
 *    redoes a truncated output and keeps the complete ones; a failed job does not stop the
 *    others (exit 1, its error in the summary); refused lines and options are usage errors
 *    before any work; the thread count from SLURM_CPUS_PER_TASK and the Slurm shard reach the
 *    summary; SIGTERM stops a shard after passing it on to its job, which leaves no file;
 *  - a render manifest with the real partial VGG19 (skipped without ../shared/data). */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host/cli/manifest.h"
#include "host/cli/temporaries.h"
#include "test_files.h"
#include "test_images.h"
#include "test_support.h"
#include "test_transformer_model.h"

static char dir[256], model[512], err[16384], out[16384];

static void setup(void) {
    nst_test_tmpdir(dir, sizeof dir);
    snprintf(model, sizeof model, "%s/net.safetensors", dir);
    static const char *const env[] = {"SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN",
                                      "SLURM_ARRAY_TASK_STEP", "SLURM_ARRAY_TASK_COUNT",
                                      "SLURM_CPUS_PER_TASK", "JOB_COMPLETION_INDEX",
                                      "NSTYLE_SHARD_COUNT"};
    for (size_t i = 0; i < sizeof env / sizeof *env; i++)
        unsetenv(env[i]);
}

TestSuite(manifest, .init = setup, .timeout = 120);

static const char *path_of(const char *name) {
    static char buf[8][600];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", dir, name);
    return p;
}

static const char *write_text(const char *name, const char *text) {
    const char *p = path_of(name);
    nst_test_write_bytes(p, text, strlen(text));
    return p;
}

/* ---- the file -------------------------------------------------------------------------------- */

Test(manifest, reads_fields_options_comments_and_line_numbers) {
    const char *p = write_text("jobs.tsv", "# a comment\n"
                                           "a.png\tout/a.png\n"
                                           "\n"
                                           "   \n"
                                           "b.jpg\tout/b.jpg\t--size=64\t--original-colors\r\n"
                                           "c d.png\tout/c d.png");
    nst_cli_manifest m;
    char e[512];
    cr_assert_eq(nst_cli_manifest_read(p, 2, &m, e, sizeof e), 0, "%s", e);
    cr_assert_eq(m.n, 3);
    cr_expect_eq(m.jobs[0].line, 2);
    cr_expect_str_eq(m.jobs[0].field[0], "a.png");
    cr_expect_str_eq(m.jobs[0].field[1], "out/a.png");
    cr_expect_eq(m.jobs[0].n_opts, 0);
    cr_expect_eq(m.jobs[1].line, 5);
    cr_assert_eq(m.jobs[1].n_opts, 2);
    cr_expect_str_eq(m.jobs[1].opts[0], "--size=64");
    cr_expect_str_eq(m.jobs[1].opts[1], "--original-colors");
    cr_expect_str_eq(m.jobs[1].field[1], "out/b.jpg");
    cr_expect_eq(m.jobs[2].line, 6);
    cr_expect_str_eq(m.jobs[2].field[0], "c d.png");
    nst_cli_manifest_free(&m);

    p = write_text("render.tsv", "c.png\ts1.jpg,s2.jpg\tr.png\t--iters=5\n");
    cr_assert_eq(nst_cli_manifest_read(p, 3, &m, e, sizeof e), 0, "%s", e);
    cr_expect_str_eq(m.jobs[0].field[1], "s1.jpg,s2.jpg");
    cr_expect_str_eq(m.jobs[0].field[2], "r.png");
    cr_expect_str_eq(m.jobs[0].opts[0], "--iters=5");
    nst_cli_manifest_free(&m);
}

Test(manifest, malformed_files_are_refused_naming_the_line) {
    const struct {
        const char *text, *needle;
        int rc;
    } cases[] = {
        {"a.png\tb.png\nonly-one.png\n", "line 2", 2},
        {"a.png\t\tb.png\n", "line 1: field 2 is empty", 2},
        {"a.png\tb.png\t\n", "field 3 is empty", 2},
        {"a.png\tb.png\tsize=64\n", "'size=64' is not an option", 2},
        {"a.png\tb.png\t-q\n", "'-q' is not an option", 2},
        {"# nothing\n\n", "lists no job", 2},
        {"a.png\tx.png\nb.png\ty.png\nc.png\tx.png\n", "lines 1 and 3: both write 'x.png'", 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *p = write_text("bad.tsv", cases[i].text);
        nst_cli_manifest m;
        char e[512] = "";
        cr_expect_eq(nst_cli_manifest_read(p, 2, &m, e, sizeof e), cases[i].rc, "case %zu", i);
        cr_expect(strstr(e, cases[i].needle) && strstr(e, "bad.tsv"), "case %zu: '%s'", i, e);
    }
    nst_cli_manifest m;
    char e[512] = "";
    cr_expect_eq(nst_cli_manifest_read(write_text("r.tsv", "c.png\tr.png\n"), 3, &m, e, sizeof e),
                 2);
    cr_expect(strstr(e, "content, style, output"), "%s", e);
    cr_expect_eq(nst_cli_manifest_read(path_of("missing.tsv"), 2, &m, e, sizeof e), 1);
    cr_expect(strstr(e, "missing.tsv") && strstr(e, "No such file"), "%s", e);
}

/* ---- shards ---------------------------------------------------------------------------------- */

static nst_cli_shard shard_ok(const char *option) {
    nst_cli_shard s;
    char e[512] = "";
    cr_assert_eq(nst_cli_shard_resolve(option, &s, e, sizeof e), 0, "%s", e);
    return s;
}

static void shard_refused(const char *option, const char *needle) {
    nst_cli_shard s;
    char e[512] = "";
    cr_expect_eq(nst_cli_shard_resolve(option, &s, e, sizeof e), 2, "'%s' taken",
                 option ? option : "(env)");
    cr_expect(strstr(e, needle), "'%s': message '%s' lacks '%s'", option ? option : "(env)", e,
              needle);
}

Test(manifest, shard_option) {
    nst_cli_shard s = shard_ok("2/3");
    cr_expect(s.index == 1 && s.count == 3 && strcmp(s.source, "--shard") == 0);
    s = shard_ok("1/1");
    cr_expect(s.index == 0 && s.count == 1);
    s = shard_ok(NULL);
    cr_expect(s.index == 0 && s.count == 1 && strcmp(s.source, "none") == 0);
    const char *bad[] = {"0/3", "4/3", "3", "x/3", "1/0", "/3", "1/", "-1/3", "1/3x", "+1/3"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        shard_refused(bad[i], "--shard");
    /* the option wins over a scheduler's variables */
    setenv("SLURM_ARRAY_TASK_ID", "0", 1);
    s = shard_ok("3/4");
    cr_expect(s.index == 2 && s.count == 4);
}

Test(manifest, shard_of_a_slurm_array_task) {
    /* --array=1-7:2 (tasks 1, 3, 5, 7): task 5 is the third of four */
    setenv("SLURM_ARRAY_TASK_ID", "5", 1);
    setenv("SLURM_ARRAY_TASK_MIN", "1", 1);
    setenv("SLURM_ARRAY_TASK_STEP", "2", 1);
    setenv("SLURM_ARRAY_TASK_COUNT", "4", 1);
    nst_cli_shard s = shard_ok(NULL);
    cr_expect(s.index == 2 && s.count == 4 && strcmp(s.source, "slurm") == 0, "%d/%d", s.index,
              s.count);
    setenv("SLURM_ARRAY_TASK_ID", "7", 1);
    s = shard_ok(NULL);
    cr_expect(s.index == 3 && s.count == 4);
    setenv("SLURM_ARRAY_TASK_ID", "4", 1); /* not on the step */
    shard_refused(NULL, "needs --shard");
    setenv("SLURM_ARRAY_TASK_ID", "9", 1); /* past the count: a list with gaps, 1,3,5,9 */
    shard_refused(NULL, "needs --shard");
    setenv("SLURM_ARRAY_TASK_ID", "0", 1); /* below the minimum */
    shard_refused(NULL, "needs --shard");
    /* no step: 1 (--array=10-12) */
    unsetenv("SLURM_ARRAY_TASK_STEP");
    setenv("SLURM_ARRAY_TASK_ID", "11", 1);
    setenv("SLURM_ARRAY_TASK_MIN", "10", 1);
    setenv("SLURM_ARRAY_TASK_COUNT", "3", 1);
    s = shard_ok(NULL);
    cr_expect(s.index == 1 && s.count == 3);
    unsetenv("SLURM_ARRAY_TASK_COUNT");
    shard_refused(NULL, "SLURM_ARRAY_TASK_COUNT");
    setenv("SLURM_ARRAY_TASK_COUNT", "0", 1);
    shard_refused(NULL, "SLURM_ARRAY_TASK_COUNT");
    setenv("SLURM_ARRAY_TASK_COUNT", "3", 1);
    setenv("SLURM_ARRAY_TASK_STEP", "0", 1);
    shard_refused(NULL, "SLURM_ARRAY_TASK_STEP");
    setenv("SLURM_ARRAY_TASK_STEP", "1", 1);
    setenv("SLURM_ARRAY_TASK_ID", "eleven", 1);
    shard_refused(NULL, "SLURM_ARRAY_TASK_ID");
    /* Slurm's variables come before Kubernetes' */
    setenv("SLURM_ARRAY_TASK_ID", "12", 1);
    setenv("JOB_COMPLETION_INDEX", "0", 1);
    setenv("NSTYLE_SHARD_COUNT", "5", 1);
    s = shard_ok(NULL);
    cr_expect(s.index == 2 && s.count == 3 && strcmp(s.source, "slurm") == 0);
}

Test(manifest, shard_of_a_kubernetes_indexed_job) {
    setenv("JOB_COMPLETION_INDEX", "2", 1);
    setenv("NSTYLE_SHARD_COUNT", "3", 1);
    nst_cli_shard s = shard_ok(NULL);
    cr_expect(s.index == 2 && s.count == 3 && strcmp(s.source, "kubernetes") == 0);
    setenv("JOB_COMPLETION_INDEX", "0", 1);
    s = shard_ok(NULL);
    cr_expect(s.index == 0 && s.count == 3);
    setenv("JOB_COMPLETION_INDEX", "3", 1);
    shard_refused(NULL, "JOB_COMPLETION_INDEX='3'");
    setenv("JOB_COMPLETION_INDEX", "1", 1);
    unsetenv("NSTYLE_SHARD_COUNT");
    shard_refused(NULL, "NSTYLE_SHARD_COUNT");
    setenv("NSTYLE_SHARD_COUNT", "0", 1);
    shard_refused(NULL, "NSTYLE_SHARD_COUNT='0'");
}

Test(manifest, every_job_in_exactly_one_shard) {
    for (int n = 1; n <= 7; n++) {
        for (int job = 0; job < 23; job++) {
            int takers = 0, taker = -1;
            for (int i = 0; i < n; i++) {
                const nst_cli_shard s = {i, n, "--shard"};
                if (nst_cli_shard_takes(&s, job)) {
                    takers++;
                    taker = i;
                }
            }
            cr_expect(takers == 1 && taker == job % n, "%d shards: job %d taken %d times", n,
                      job, takers);
        }
    }
}

/* ---- threads, the summary's name, cleaning --------------------------------------------------- */

Test(manifest, threads_from_the_option_slurm_or_the_cores) {
    int t = 0;
    const char *src = NULL;
    char e[256];
    setenv("SLURM_CPUS_PER_TASK", "3", 1);
    cr_assert_eq(nst_cli_threads_resolve("5", &t, &src, e, sizeof e), 0);
    cr_expect(t == 5 && strcmp(src, "--threads") == 0);
    cr_assert_eq(nst_cli_threads_resolve(NULL, &t, &src, e, sizeof e), 0);
    cr_expect(t == 3 && strcmp(src, "SLURM_CPUS_PER_TASK") == 0);
    setenv("SLURM_CPUS_PER_TASK", "three", 1);
    cr_expect_eq(nst_cli_threads_resolve(NULL, &t, &src, e, sizeof e), 2);
    cr_expect(strstr(e, "SLURM_CPUS_PER_TASK='three'"), "%s", e);
    unsetenv("SLURM_CPUS_PER_TASK");
    cr_assert_eq(nst_cli_threads_resolve(NULL, &t, &src, e, sizeof e), 0);
    cr_expect(t == sysconf(_SC_NPROCESSORS_ONLN) && strcmp(src, "cores") == 0);
    cr_expect_eq(nst_cli_threads_resolve("0", &t, &src, e, sizeof e), 2);
    cr_expect(strstr(e, "--threads") && strstr(e, "'0'"), "%s", e);
}

Test(manifest, summary_name_per_shard) {
    char buf[512], e[256];
    const nst_cli_shard one = {0, 1, "none"}, third = {2, 3, "slurm"};
    cr_assert_eq(nst_cli_manifest_summary_path(NULL, "a/jobs.tsv", &third, buf, sizeof buf, e,
                                               sizeof e), 0);
    cr_expect_str_eq(buf, "a/jobs.tsv.shard-3-of-3.json");
    cr_assert_eq(nst_cli_manifest_summary_path("s/{shard}.json", "j", &third, buf, sizeof buf, e,
                                               sizeof e), 0);
    cr_expect_str_eq(buf, "s/3-of-3.json");
    cr_expect_eq(nst_cli_manifest_summary_path("s.json", "j", &third, buf, sizeof buf, e,
                                               sizeof e), 2);
    cr_expect(strstr(e, "{shard}"), "%s", e);
    cr_assert_eq(nst_cli_manifest_summary_path("s.json", "j", &one, buf, sizeof buf, e, sizeof e),
                 0);
    cr_expect_str_eq(buf, "s.json");
}

Test(manifest, cleaning_removes_only_the_same_outputs_temporaries) {
    const char *gone[] = {"out.png.tmp-Ab12Cd", "out.png.tmp-41-job.png",
                          "out.png.tmp-41-job.png.tmp-x1y2z3"};
    const char *kept[] = {"out.png", "out.png.tmpx", "out.png.tmp-", "other.png.tmp-Ab12Cd",
                          "xout.png.tmp-Ab12Cd", "out.jpg.tmp-Ab12Cd", "out.pn.tmp-Ab12Cd"};
    for (size_t i = 0; i < 3; i++)
        write_text(gone[i], "x");
    for (size_t i = 0; i < sizeof kept / sizeof *kept; i++)
        write_text(kept[i], "x");
    cr_assert_eq(mkdir(path_of("out.png.tmp-folder"), 0755), 0); /* not a file: kept */
    cr_expect_eq(nst_cli_clean_temporaries(path_of("out.png")), 3);
    for (size_t i = 0; i < 3; i++)
        cr_expect_neq(access(path_of(gone[i]), F_OK), 0, "%s left", gone[i]);
    for (size_t i = 0; i < sizeof kept / sizeof *kept; i++)
        cr_expect_eq(access(path_of(kept[i]), F_OK), 0, "%s removed", kept[i]);
    cr_expect_eq(access(path_of("out.png.tmp-folder"), F_OK), 0);
    char temp[600];
    nst_cli_manifest_temp_output(path_of("a.jpg"), 77, temp, sizeof temp);
    cr_expect_str_eq(temp, path_of("a.jpg.tmp-77-job.jpg"));
    cr_expect_eq(nst_cli_clean_temporaries(path_of("no-such-folder/a.png")), -1);
}

/* ---- end to end through the CLI -------------------------------------------------------------- */

#define STYLIZE(...)                                                                          \
    nst_test_run_cli((const char *const[]){"stylize", "-m", model, __VA_ARGS__, NULL}, out,    \
                     sizeof out, err, sizeof err)


/* n inputs in_K.png (K from 1, sizes varying) and a manifest of them into out/o_K.png; line
 * K's extra text (NULL: none) follows its two fields. */
static const char *make_jobs(int n, const char *const *extra) {
    char text[8192] = "# input\toutput\n";
    for (int k = 1; k <= n; k++) {
        char name[64];
        snprintf(name, sizeof name, "in_%d.png", k);
        nst_test_write_random_image(path_of(name), 12 + k, 10 + 2 * k, (uint64_t)k);
        const size_t used = strlen(text);
        snprintf(text + used, sizeof text - used, "%s\t%s/out/o_%d.png%s%s\n", path_of(name), dir,
                 k, extra && extra[k - 1] ? "\t" : "", extra && extra[k - 1] ? extra[k - 1] : "");
    }
    static char jobs[600];
    snprintf(jobs, sizeof jobs, "%s", write_text("jobs.tsv", text));
    return jobs;
}

/* The "status" of the result whose "output" is path in the summary text. */
static char *status_of(const char *summary, const char *path) {
    static char buf[32];
    char pat[700];
    snprintf(pat, sizeof pat, "\"output\": \"%s\"", path);
    const char *p = strstr(summary, pat);
    cr_assert_not_null(p, "no result for %s in:\n%s", path, summary);
    p = strstr(p, "\"status\": \"");
    cr_assert_not_null(p);
    p += 11;
    snprintf(buf, sizeof buf, "%.*s", (int)strcspn(p, "\""), p);
    return buf;
}

static bool same_file_bytes(const char *a, const char *b) {
    size_t na, nb;
    uint8_t *x = nst_test_read_bytes(a, &na), *y = nst_test_read_bytes(b, &nb);
    const bool same = na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

Test(manifest, two_shards_write_each_output_once_and_a_rerun_skips_all) {
    nst_test_tn_write(model, 5, &(nst_test_tn_options){.f16_convs = true});
    const char *jobs = make_jobs(5, (const char *const[]){NULL, "--size=20", NULL, NULL, NULL});
    char summary[2][600];
    for (int s = 0; s < 2; s++) {
        char shard[8];
        snprintf(shard, sizeof shard, "%d/2", s + 1);
        cr_assert_eq(STYLIZE("--manifest", jobs, "--shard", shard), 0, "%s", err);
        cr_expect(strstr(out, "shard") && strstr(out, "done"), "%s", out);
        snprintf(summary[s], sizeof summary[s], "%s.shard-%d-of-2.json", jobs, s + 1);
    }
    char *t1 = nst_test_read_text(summary[0]), *t2 = nst_test_read_text(summary[1]);
    cr_expect_eq(nst_test_json_num(t1, "jobs"), 3);
    cr_expect_eq(nst_test_json_num(t2, "jobs"), 2);
    cr_expect_eq(nst_test_json_num(t1, "done"), 3);
    cr_expect_eq(nst_test_json_num(t2, "done"), 2);
    cr_expect_eq(nst_test_json_num(t1, "shard"), 1);
    cr_expect_eq(nst_test_json_num(t2, "shards"), 2);
    cr_expect(strstr(t1, "\"ok\": true") && strstr(t1, "\"finished\": true"), "%s", t1);
    nst_test_expect_json_version(t1);
    for (int k = 1; k <= 5; k++) {
        char o[600], name[32];
        snprintf(name, sizeof name, "out/o_%d.png", k);
        snprintf(o, sizeof o, "%s", path_of(name));
        const char *mine = k % 2 == 1 ? t1 : t2, *other = k % 2 == 1 ? t2 : t1;
        cr_expect_str_eq(status_of(mine, o), "done", "%s", o);
        cr_expect_null(strstr(other, o), "%s is in both shards", o);
        /* the same bytes as a plain run of the image with the line's options */
        char in[64];
        snprintf(in, sizeof in, "in_%d.png", k);
        const char *ref = path_of("ref.png");
        if (k == 2)
            cr_assert_eq(STYLIZE("-i", path_of(in), "-o", ref, "--quiet", "--size", "20"), 0);
        else
            cr_assert_eq(STYLIZE("-i", path_of(in), "-o", ref, "--quiet"), 0);
        cr_expect(same_file_bytes(o, ref), "%s differs from a plain run", o);
    }
    int tmp = 0;
    cr_expect_eq(nst_test_count_entries(path_of("out"), &tmp), 5);
    cr_expect_eq(tmp, 0);
    free(t1);
    free(t2);
    /* a rerun skips every job and leaves the files as they were */
    struct stat before, after;
    cr_assert_eq(stat(path_of("out/o_3.png"), &before), 0);
    cr_assert_eq(STYLIZE("--manifest", jobs, "--shard", "1/2"), 0, "%s", err);
    t1 = nst_test_read_text(summary[0]);
    cr_expect_eq(nst_test_json_num(t1, "skipped"), 3, "%s", t1);
    cr_expect_eq(nst_test_json_num(t1, "done"), 0);
    cr_assert_eq(stat(path_of("out/o_3.png"), &after), 0);
    cr_expect(before.st_ino == after.st_ino && before.st_mtim.tv_sec == after.st_mtim.tv_sec &&
              before.st_mtim.tv_nsec == after.st_mtim.tv_nsec, "o_3.png was written again");
    free(t1);
}

Test(manifest, a_run_after_a_killed_one_cleans_its_temporaries_and_resumes) {
    nst_test_tn_write(model, 5, &(nst_test_tn_options){.f16_convs = true});
    const char *jobs = make_jobs(3, NULL);
    const char *json = path_of("s.json");
    cr_assert_eq(STYLIZE("--manifest", jobs, "--json", json), 0, "%s", err);
    /* what a killed run leaves: a truncated output (written by something else, not atomically),
     * the temporaries of two outputs; and files that are no job's temporaries */
    size_t n;
    uint8_t *whole = nst_test_read_bytes(path_of("out/o_2.png"), &n);
    nst_test_write_bytes(path_of("out/o_2.png"), whole, n / 2);
    free(whole);
    cr_assert_eq(unlink(path_of("out/o_3.png")), 0);
    write_text("out/o_3.png.tmp-123-job.png", "half");
    write_text("out/o_3.png.tmp-123-job.png.tmp-AbCdEf", "half");
    write_text("out/o_1.png.tmp-XyZ123", "half");
    write_text("out/keep.png.tmp-XyZ123", "not ours");
    write_text("out/o_3.png.bak", "not ours");
    struct stat before, after;
    cr_assert_eq(stat(path_of("out/o_1.png"), &before), 0);
    cr_assert_eq(STYLIZE("--manifest", jobs, "--json", json), 0, "%s", err);
    char *t = nst_test_read_text(json);
    cr_expect_str_eq(status_of(t, path_of("out/o_1.png")), "skipped");
    cr_expect_str_eq(status_of(t, path_of("out/o_2.png")), "done");
    cr_expect_str_eq(status_of(t, path_of("out/o_3.png")), "done");
    free(t);
    cr_assert_eq(stat(path_of("out/o_1.png"), &after), 0);
    cr_expect(before.st_mtim.tv_nsec == after.st_mtim.tv_nsec && before.st_ino == after.st_ino);
    int tmp = 0;
    cr_expect_eq(nst_test_count_entries(path_of("out"), &tmp), 5); /* 3 outputs, 2 not ours */
    cr_expect_eq(tmp, 1, "only keep.png's temporary may stay");
    cr_expect_eq(access(path_of("out/keep.png.tmp-XyZ123"), F_OK), 0);
    cr_expect_eq(access(path_of("out/o_3.png.bak"), F_OK), 0);
    nst_ctx *ctx = nst_test_cpu_ctx();
    nst_image img = {0};
    cr_expect_eq(nst_image_load(ctx, path_of("out/o_2.png"), 0, &img), NST_OK, "%s",
                 nst_last_error(ctx));
    nst_image_free(&img);
    nst_ctx_destroy(ctx);
}

Test(manifest, a_failed_job_does_not_stop_the_others) {
    nst_test_tn_write(model, 5, &(nst_test_tn_options){.f16_convs = true});
    const char *jobs = make_jobs(3, NULL);
    cr_assert_eq(unlink(path_of("in_2.png")), 0);
    const char *json = path_of("s.json");
    cr_expect_eq(STYLIZE("--manifest", jobs, "--json", json), 1);
    cr_expect(strstr(err, "line 3") && strstr(err, "in_2.png"), "%s", err);
    char *t = nst_test_read_text(json);
    cr_expect_str_eq(status_of(t, path_of("out/o_1.png")), "done");
    cr_expect_str_eq(status_of(t, path_of("out/o_2.png")), "failed");
    cr_expect_str_eq(status_of(t, path_of("out/o_3.png")), "done");
    cr_expect(strstr(t, "\"ok\": false") && strstr(t, "1 of 3 jobs failed"), "%s", t);
    const char *e = strstr(t, "\"error\": \"nstyle stylize:");
    cr_expect(e && strstr(e, "in_2.png"), "the job's error is not in the summary:\n%s", t);
    free(t);
    int tmp = 0;
    cr_expect_eq(nst_test_count_entries(path_of("out"), &tmp), 2);
    cr_expect_eq(tmp, 0);
}

Test(manifest, refused_lines_and_options_are_usage_errors_before_any_work) {
    nst_test_tn_write(model, 5, &(nst_test_tn_options){.f16_convs = true});
    const struct {
        const char *extra, *needle;
    } lines[] = {
        {"--size=abc", "--size"},
        {"--no-such-option", "--no-such-option"},
        {"-o=x.png", "is not an option"},
        {"--output=x.png", "-o"},
        {"--json=x.json", "--json"},
        {"--manifest=other.tsv", "--manifest"},
    };
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        const char *jobs = make_jobs(3, (const char *const[]){NULL, NULL, lines[i].extra});
        cr_expect_eq(STYLIZE("--manifest", jobs), 2, "%s: %s", lines[i].extra, err);
        cr_expect(strstr(err, lines[i].needle), "%s: %s", lines[i].extra, err);
        cr_expect_eq(access(path_of("out"), F_OK), -1, "%s: work was done", lines[i].extra);
    }
    const char *jobs = make_jobs(2, NULL);
    cr_expect_eq(STYLIZE("--manifest", jobs, "-i", path_of("in_1.png")), 2);
    cr_expect_eq(STYLIZE("--manifest", jobs, "--shard", "3/2"), 2);
    cr_expect(strstr(err, "--shard"), "%s", err);
    cr_expect_eq(STYLIZE("--manifest", jobs, "--shard", "1/2", "--json", path_of("s.json")), 2);
    cr_expect(strstr(err, "{shard}"), "%s", err);
    cr_expect_eq(STYLIZE("--manifest", jobs, "--quality", "0"), 2);
    cr_expect(strstr(err, "line 2") && strstr(err, "--quality"), "%s", err);
    cr_expect_eq(STYLIZE("--manifest", path_of("none.tsv")), 1);
    cr_expect(strstr(err, "none.tsv"), "%s", err);
    const char *video = write_text("v.tsv", "clip.mp4\tout.mp4\n");
    cr_expect_eq(STYLIZE("--manifest", video), 2);
    cr_expect_eq(access(path_of("out"), F_OK), -1);
    setenv("SLURM_ARRAY_TASK_ID", "4", 1); /* an array with gaps: 0,4 */
    setenv("SLURM_ARRAY_TASK_MIN", "0", 1);
    setenv("SLURM_ARRAY_TASK_COUNT", "2", 1);
    cr_expect_eq(STYLIZE("--manifest", jobs), 2);
    cr_expect(strstr(err, "--shard I/N"), "%s", err);
    cr_expect_eq(access(path_of("out"), F_OK), -1);
}

Test(manifest, slurm_shard_and_threads_reach_the_summary) {
    nst_test_tn_write(model, 5, &(nst_test_tn_options){.f16_convs = true});
    const char *jobs = make_jobs(4, NULL);
    setenv("SLURM_ARRAY_TASK_ID", "12", 1); /* --array=10-14:2, the second task */
    setenv("SLURM_ARRAY_TASK_MIN", "10", 1);
    setenv("SLURM_ARRAY_TASK_STEP", "2", 1);
    setenv("SLURM_ARRAY_TASK_COUNT", "3", 1);
    setenv("SLURM_CPUS_PER_TASK", "1", 1);
    const char *json = path_of("s-{shard}.json");
    cr_assert_eq(STYLIZE("--manifest", jobs, "--json", json), 0, "%s", err);
    char *t = nst_test_read_text(path_of("s-2-of-3.json"));
    cr_expect_eq(nst_test_json_num(t, "shard"), 2);
    cr_expect_eq(nst_test_json_num(t, "shards"), 3);
    cr_expect(strstr(t, "\"shard_from\": \"slurm\""), "%s", t);
    cr_expect_eq(nst_test_json_num(t, "threads"), 1);
    cr_expect(strstr(t, "\"threads_from\": \"SLURM_CPUS_PER_TASK\""), "%s", t);
    cr_expect_eq(nst_test_json_num(t, "jobs"), 1); /* job 2 of 4 */
    cr_expect_str_eq(status_of(t, path_of("out/o_2.png")), "done");
    cr_expect_eq(nst_test_json_num(t, "jobs_in_manifest"), 4);
    free(t);
    cr_assert_eq(STYLIZE("--manifest", jobs, "--json", json, "--threads", "2", "--shard", "1/3"),
                 0, "%s", err);
    t = nst_test_read_text(path_of("s-1-of-3.json"));
    cr_expect_eq(nst_test_json_num(t, "threads"), 2);
    cr_expect(strstr(t, "\"shard_from\": \"--shard\""), "%s", t);
    free(t);
}

Test(manifest, sigterm_stops_the_shard_and_leaves_no_file) {
    nst_test_tn_write(model, 5, &(nst_test_tn_options){.f16_convs = true});
    /* three large jobs, so that the signal comes while the first runs */
    char text[4096] = "";
    for (int k = 1; k <= 3; k++) {
        char name[32];
        snprintf(name, sizeof name, "big_%d.png", k);
        nst_test_write_random_image(path_of(name), 400, 400, (uint64_t)k);
        const size_t used = strlen(text);
        snprintf(text + used, sizeof text - used, "%s\t%s/out/b_%d.png\n", path_of(name), dir, k);
    }
    const char *jobs = write_text("jobs.tsv", text);
    const char *json = path_of("s.json");
    const pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        freopen("/dev/null", "w", stdout);
        execl(NST_CLI_PATH, NST_CLI_PATH, "stylize", "-m", model, "--manifest", jobs, "--json",
              json, (char *)NULL);
        _exit(127);
    }
    /* the summary is first written just before the first job starts */
    for (int i = 0; i < 600 && access(json, F_OK) != 0; i++)
        usleep(50000);
    usleep(200000);
    cr_assert_eq(kill(pid, SIGTERM), 0);
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 143, "status %#x", status);
    char *t = nst_test_read_text(json);
    cr_expect(nst_test_json_num(t, "pending") >= 1, "%s", t);
    cr_expect(strstr(t, "\"ok\": false") && strstr(t, "\"finished\": true"), "%s", t);
    char first[32];
    snprintf(first, sizeof first, "%s", status_of(t, path_of("out/b_1.png")));
    cr_expect(strcmp(first, "cancelled") == 0 || strcmp(first, "done") == 0, "%s", first);
    cr_expect_str_eq(status_of(t, path_of("out/b_3.png")), "pending");
    free(t);
    int tmp = 0;
    const int files = nst_test_count_entries(path_of("out"), &tmp);
    cr_expect_eq(tmp, 0, "a temporary is left");
    cr_expect_eq(files, strcmp(first, "done") == 0 ? 1 : 0, "%d files", files);
}

/* ---- render ---------------------------------------------------------------------------------- */

Test(manifest, render_manifest_with_the_partial_vgg19) {
    char weights[1024], photo[1024], painting[1024];
    if (!nst_test_shared_path("models/vgg19-partial/vgg19_conv1_to_conv3.safetensors", weights,
                              sizeof weights) ||
        !nst_test_shared_path("images/content/chelsea.png", photo, sizeof photo) ||
        !nst_test_shared_path("images/style/starry_night.jpg", painting, sizeof painting))
        cr_skip_test("../shared/data is absent: no real VGG19 weights or photos");
    char text[8192];
    snprintf(text, sizeof text, "%s\t%s\t%s/r1.png\n%s\t%s\t%s/r2.jpg\t--size=24\n", photo,
             painting, dir, photo, painting, dir);
    const char *jobs = write_text("render.tsv", text);
    const char *json = path_of("r.json");
    const char *args[] = {"render", "--manifest", jobs, "--model", weights, "--device", "cpu",
                          "--size", "32", "--iters", "3", "--content-layers", "relu3_2",
                          "--style-layers", "relu1_1,relu2_1", "--json", json, NULL};
    cr_assert_eq(nst_test_run_cli(args, out, sizeof out, err, sizeof err), 0, "%s", err);
    char *t = nst_test_read_text(json);
    cr_expect_eq(nst_test_json_num(t, "done"), 2, "%s", t);
    cr_expect(strstr(t, "\"command\": \"render\"") && strstr(t, "\"style\": "), "%s", t);
    free(t);
    nst_ctx *ctx = nst_test_cpu_ctx();
    const struct {
        const char *name;
        int w;
    } want[] = {{"r1.png", 32}, {"r2.jpg", 24}};
    for (int i = 0; i < 2; i++) {
        nst_image img = {0};
        cr_assert_eq(nst_image_load(ctx, path_of(want[i].name), 0, &img), NST_OK, "%s",
                     nst_last_error(ctx));
        cr_expect_eq(img.width, want[i].w, "%s", want[i].name);
        nst_image_free(&img);
    }
    nst_ctx_destroy(ctx);
    /* a content and a style are positional: -s on a line would blend another style in */
    snprintf(text, sizeof text, "%s\t%s\t%s/r3.png\t--style=%s\n", photo, painting, dir, photo);
    jobs = write_text("render2.tsv", text);
    args[2] = jobs;
    cr_expect_eq(nst_test_run_cli(args, out, sizeof out, err, sizeof err), 2, "%s", err);
    cr_expect(strstr(err, "line 1"), "%s", err);
}
