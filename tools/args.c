/* The lsc command line's argument parsing, apart from running anything (tools/lsc.c runs the
 * command; tests/fuzz/fuzz_cli_args.c fuzzes this). */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void cli_opts_init(cli_opts *o)
{
    memset(o, 0, sizeof *o);
    cli_thresholds th = CLI_THRESHOLDS_INIT;
    o->th = th;
    o->k = 5;
    o->backend = LSC_BACKEND_AUTO;
    o->metric = LSC_METRIC_EUCLIDEAN;
    o->dup_eps = 1e-6;
    o->bins = 64;
    o->active_threshold = 0.01;
    o->pairs_max_rows = 20000;
    o->seed = 0;
    o->splits = 16;
    o->subsets = 100;
    o->subset_rows = 1000;
    o->sigma = 10.0;
    o->scale = 1000.0;
}

/* every command takes these; --metric and --seed only where they change something, so that an
 * option a command would ignore is refused instead */
#define OPTS_COMMON " backend threads json progress "

/* --fail-on borderline|collapse[,not_assessed] (also not_assessed alone) */
static int parse_fail_on(cli_opts *o, const char *v)
{
    char buf[64];
    if (strlen(v) >= sizeof buf)
        return cli_fail(o, EXIT_BAD_INPUT, "--fail-on: '%s' is too long", v);
    strcpy(buf, v);
    o->fail_on = 0;
    o->fail_on_not_assessed = 0;
    for (char *t = buf, *next; t; t = next) {
        next = strchr(t, ',');
        if (next) *next++ = '\0';
        if (!strcmp(t, "borderline")) o->fail_on = LSC_LEVEL_BORDERLINE;
        else if (!strcmp(t, "collapse") && o->fail_on != LSC_LEVEL_BORDERLINE)
            o->fail_on = LSC_LEVEL_COLLAPSE;
        else if (!strcmp(t, "collapse")) continue;
        else if (!strcmp(t, "not_assessed")) o->fail_on_not_assessed = 1;
        else
            return cli_fail(
                o, EXIT_BAD_INPUT,
                "--fail-on: unknown level '%s' (borderline, collapse, optionally ,not_assessed)",
                t);
    }
    return 0;
}

static int parse_i64(const cli_opts *o, const char *name, const char *v, int64_t lo, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (!*v || *end || errno)
        return cli_fail(o, EXIT_BAD_INPUT, "--%s: '%s' is not an integer", name, v);
    if (x < lo)
        return cli_fail(o, EXIT_BAD_INPUT, "--%s: %lld is below %lld", name, x, (long long)lo);
    *out = x;
    return 0;
}

static int parse_f64(const cli_opts *o, const char *name, const char *v, double lo, double *out)
{
    char *end = NULL;
    errno = 0;
    double x = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(x))
        return cli_fail(o, EXIT_BAD_INPUT, "--%s: '%s' is not a number", name, v);
    if (x < lo) return cli_fail(o, EXIT_BAD_INPUT, "--%s: %g is below %g", name, x, lo);
    *out = x;
    return 0;
}

/* Parses argv[i..] against the option names listed in `allowed` (" a b c "). Positional
 * arguments go to *pos (at most one). Returns 0, an exit code, or -1 for --help. */
static int parse_options(cli_opts *o, int argc, char **argv, int i, const char *allowed,
                         const char **pos)
{
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return -1;
        if (strncmp(a, "--", 2) != 0) {
            if (pos && !*pos) {
                *pos = a;
                continue;
            }
            return cli_fail(o, EXIT_BAD_INPUT, "unexpected argument '%s' (see --help)", a);
        }
        char name[64];
        const char *eq = strchr(a + 2, '=');
        size_t nl = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
        if (nl == 0 || nl >= sizeof name - 2)
            return cli_fail(o, EXIT_BAD_INPUT, "unknown option '%s' (see --help)", a);
        memcpy(name, a + 2, nl);
        name[nl] = 0;
        char key[80];
        snprintf(key, sizeof key, " %s ", name);
        if (!strstr(allowed, key))
            return cli_fail(o, EXIT_BAD_INPUT, "unknown option '--%s' (see --help)", name);
        if (!strcmp(name, "geometry")) {
            if (eq) return cli_fail(o, EXIT_BAD_INPUT, "--geometry takes no value");
            o->geometry = 1;
            continue;
        }
        if (!strcmp(name, "kid") || !strcmp(name, "mmd")) {
            if (eq) return cli_fail(o, EXIT_BAD_INPUT, "--%s takes no value", name);
            *(name[0] == 'k' ? &o->kid : &o->mmd) = 1;
            continue;
        }
        if (!strcmp(name, "inclusive")) {
            if (eq) return cli_fail(o, EXIT_BAD_INPUT, "--inclusive takes no value");
            o->inclusive = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : NULL;
        if (!v) {
            if (i + 1 >= argc) return cli_fail(o, EXIT_BAD_INPUT, "--%s needs a value", name);
            v = argv[++i];
        }
        int rc = 0;
        int64_t iv = 0;
        if (!strcmp(name, "real")) o->real = v;
        else if (!strcmp(name, "fake")) o->fake = v;
        else if (!strcmp(name, "input")) o->input = v;
        else if (!strcmp(name, "queries")) o->queries = v;
        else if (!strcmp(name, "base")) o->base = v;
        else if (!strcmp(name, "reference")) o->reference = v;
        else if (!strcmp(name, "labels")) o->labels = v;
        else if (!strcmp(name, "fake-labels")) o->fake_labels = v;
        else if (!strcmp(name, "out")) o->out = v;
        else if (!strcmp(name, "out-dist")) o->out_dist = v;
        else if (!strcmp(name, "out-idx")) o->out_idx = v;
        else if (!strcmp(name, "json")) o->json = v;
        else if (!strcmp(name, "html")) {
            /* the page goes to a file: on stdout it would mix with the text report */
            if (!strcmp(v, "-"))
                rc = cli_fail(o, EXIT_BAD_INPUT, "--html: give a file name ('-' is not supported)");
            o->html = v;
        } else if (!strcmp(name, "k")) {
            rc = parse_i64(o, name, v, 1, &o->k);
            o->k_set = 1;
        } else if (!strcmp(name, "backend")) {
            if (!strcmp(v, "auto")) o->backend = LSC_BACKEND_AUTO;
            else if (!strcmp(v, "cpu")) o->backend = LSC_BACKEND_CPU;
            else if (!strcmp(v, "cuda")) o->backend = LSC_BACKEND_CUDA;
            else
                rc = cli_fail(o, EXIT_BAD_INPUT,
                              "--backend: unknown backend '%s' (auto, cpu or cuda)", v);
        } else if (!strcmp(name, "progress")) {
            if (!strcmp(v, "auto")) o->progress = CLI_PROGRESS_AUTO;
            else if (!strcmp(v, "always")) o->progress = CLI_PROGRESS_ALWAYS;
            else if (!strcmp(v, "never")) o->progress = CLI_PROGRESS_NEVER;
            else
                rc =
                    cli_fail(o, EXIT_BAD_INPUT, "--progress: '%s' is not auto, always or never", v);
        } else if (!strcmp(name, "metric")) {
            if (!strcmp(v, "euclidean")) o->metric = LSC_METRIC_EUCLIDEAN;
            else if (!strcmp(v, "cosine")) o->metric = LSC_METRIC_COSINE;
            else
                rc = cli_fail(o, EXIT_BAD_INPUT,
                              "--metric: unknown metric '%s' (euclidean or cosine)", v);
            o->metric_set = 1;
        } else if (!strcmp(name, "threads")) {
            rc = parse_i64(o, name, v, 0, &iv);
            if (!rc && iv > 4096)
                rc = cli_fail(o, EXIT_BAD_INPUT, "--threads: %lld is too many", (long long)iv);
            o->threads = (int)iv;
        } else if (!strcmp(name, "seed")) {
            rc = parse_i64(o, name, v, 0, &iv);
            o->seed = (uint64_t)iv;
        } else if (!strcmp(name, "bins")) {
            rc = parse_i64(o, name, v, 1, &o->bins);
            if (!rc && o->bins > 100000000)
                rc = cli_fail(o, EXIT_BAD_INPUT, "--bins: %lld is too many", (long long)o->bins);
        } else if (!strcmp(name, "pairs-max-rows")) {
            rc = parse_i64(o, name, v, 0, &o->pairs_max_rows);
            if (!rc && o->pairs_max_rows == 1)
                rc = cli_fail(o, EXIT_BAD_INPUT, "--pairs-max-rows: needs 0 or at least 2");
        } else if (!strcmp(name, "dup-eps")) rc = parse_f64(o, name, v, 0, &o->dup_eps);
        else if (!strcmp(name, "active-threshold"))
            rc = parse_f64(o, name, v, 0, &o->active_threshold);
        else if (!strcmp(name, "dim-collapse-ratio"))
            rc = parse_f64(o, name, v, 0, &o->th.dim_collapse_ratio);
        else if (!strcmp(name, "mode-collapse-ratio"))
            rc = parse_f64(o, name, v, 0, &o->th.mode_collapse_ratio);
        else if (!strcmp(name, "coverage-min")) rc = parse_f64(o, name, v, 0, &o->th.coverage_min);
        else if (!strcmp(name, "precision-high"))
            rc = parse_f64(o, name, v, 0, &o->th.precision_high);
        else if (!strcmp(name, "precision-min"))
            rc = parse_f64(o, name, v, 0, &o->th.precision_min);
        else if (!strcmp(name, "dup-fraction")) rc = parse_f64(o, name, v, 0, &o->th.dup_fraction);
        else if (!strcmp(name, "active-ratio")) rc = parse_f64(o, name, v, 0, &o->th.active_ratio);
        else if (!strcmp(name, "splits")) {
            rc = parse_i64(o, name, v, 4, &o->splits);
            if (!rc && o->splits > 64)
                rc =
                    cli_fail(o, EXIT_BAD_INPUT, "--splits: %lld is above 64", (long long)o->splits);
        } else if (!strcmp(name, "fail-on")) rc = parse_fail_on(o, v);
        else if (!strcmp(name, "subsets")) {
            rc = parse_i64(o, name, v, 1, &o->subsets);
            if (!rc && o->subsets > 1000000)
                rc = cli_fail(o, EXIT_BAD_INPUT, "--subsets: %lld is above 10^6",
                              (long long)o->subsets);
        } else if (!strcmp(name, "subset-rows")) rc = parse_i64(o, name, v, 2, &o->subset_rows);
        else if (!strcmp(name, "sigma")) {
            rc = parse_f64(o, name, v, 0, &o->sigma);
            if (!rc && !(o->sigma > 0)) rc = cli_fail(o, EXIT_BAD_INPUT, "--sigma: must be > 0");
            o->sigma_given = 1;
        } else if (!strcmp(name, "scale")) {
            rc = parse_f64(o, name, v, 0, &o->scale);
            if (!rc && !(o->scale > 0)) rc = cli_fail(o, EXIT_BAD_INPUT, "--scale: must be > 0");
        } else rc = cli_fail(o, EXIT_BAD_INPUT, "unknown option '--%s' (see --help)", name);
        if (rc) return rc;
        /* the report computes KID and MMD only when asked: remember an option that tunes them
         * (--sigma tunes --geometry's RBF Vendi too) */
        if (strstr(" subsets subset-rows ", key) && !o->kid_opt[0])
            snprintf(o->kid_opt, sizeof o->kid_opt, "--%s", name);
        if (strstr(" scale ", key) && !o->mmd_opt[0])
            snprintf(o->mmd_opt, sizeof o->mmd_opt, "--%s", name);
        /* the fixed-threshold options decide readings only: say so once */
        if (strstr(
                " dim-collapse-ratio mode-collapse-ratio coverage-min precision-high precision-min"
                " dup-fraction active-ratio ",
                key) &&
            !o->deprecated[0])
            snprintf(o->deprecated, sizeof o->deprecated, "--%s", name);
    }
    return 0;
}

int cli_parse_argv(cli_opts *o, int argc, char **argv, cli_command *cmd, int *help,
                   const char **pos)
{
    cli_opts_init(o);
    *cmd = CLI_CMD_HELP;
    *help = 0;
    *pos = NULL;
    if (argc < 2 || !argv[1])
        return cli_fail(NULL, EXIT_BAD_INPUT, "missing command (see lsc --help)");
    const char *c = argv[1];
    if (!strcmp(c, "--help") || !strcmp(c, "-h") || !strcmp(c, "help")) {
        *help = 1;
        return 0;
    }
    if (!strcmp(c, "--version") || !strcmp(c, "version")) {
        *cmd = CLI_CMD_VERSION;
        return 0;
    }
    int rc;
    if (!strcmp(c, "reference")) {
        *cmd = CLI_CMD_REFERENCE;
        if (argc < 3) {
            o->cmd = "reference";
            return cli_fail(o, EXIT_BAD_INPUT, "missing subcommand: build or inspect (see --help)");
        }
        if (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h")) {
            *help = 1;
            return 0;
        }
        if (!strcmp(argv[2], "build")) {
            o->cmd = "reference build";
            rc = parse_options(o, argc, argv, 3, " real k out inclusive metric" OPTS_COMMON, NULL);
        } else if (!strcmp(argv[2], "inspect")) {
            o->cmd = "reference inspect";
            rc = parse_options(o, argc, argv, 3, OPTS_COMMON, pos);
        } else {
            o->cmd = "reference";
            return cli_fail(o, EXIT_BAD_INPUT, "unknown subcommand '%s' (build or inspect)",
                            argv[2]);
        }
        if (rc == -1) { /* the help of `reference` */
            *help = 1;
            return 0;
        }
        if (!rc)
            *cmd = !strcmp(argv[2], "build") ? CLI_CMD_REFERENCE_BUILD : CLI_CMD_REFERENCE_INSPECT;
        return rc;
    }
    if (!strcmp(c, "monitor-report")) {
        o->cmd = "monitor-report";
        *cmd = CLI_CMD_MONITOR_REPORT;
        rc = parse_options(o, argc, argv, 2, " html ", pos);
        if (rc == -1) {
            *help = 1;
            return 0;
        }
        return rc;
    }
    static const struct {
        const char *name, *allowed;
        cli_command cmd;
    } cmds[] = {
        {"report",
         " real reference fake k inclusive geometry dup-eps bins active-threshold pairs-max-rows dim-collapse-ratio"
         " mode-collapse-ratio coverage-min precision-high precision-min dup-fraction active-ratio"
         " splits fail-on labels fake-labels metric seed kid subsets subset-rows mmd sigma scale html" OPTS_COMMON,
         CLI_CMD_REPORT},
        {"demo", " seed backend threads k progress ", CLI_CMD_DEMO},
        {"spectrum", " input active-threshold" OPTS_COMMON, CLI_CMD_SPECTRUM},
        {"pairs", " input dup-eps bins pairs-max-rows metric seed" OPTS_COMMON, CLI_CMD_PAIRS},
        {"knn", " queries base k out-dist out-idx metric" OPTS_COMMON, CLI_CMD_KNN},
        {"prdc", " real reference fake k inclusive metric" OPTS_COMMON, CLI_CMD_PRDC},
        {"fd", " real fake" OPTS_COMMON, CLI_CMD_FD},
        {"fd-stats", " input out" OPTS_COMMON, CLI_CMD_FD_STATS},
        {"kid", " real fake subsets subset-rows seed" OPTS_COMMON, CLI_CMD_KID},
        {"mmd", " real fake sigma scale" OPTS_COMMON, CLI_CMD_MMD},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(c, cmds[i].name)) continue;
        o->cmd = cmds[i].name;
        *cmd = cmds[i].cmd;
        rc = parse_options(o, argc, argv, 2, cmds[i].allowed, NULL);
        if (rc == -1) {
            *help = 1;
            return 0;
        }
        return rc;
    }
    return cli_fail(NULL, EXIT_BAD_INPUT, "unknown command '%s' (see lsc --help)", c);
}
