/* The command line under `mpirun -np P lsc <command> ...` (cli.h, "under mpirun"): detecting the
 * launch, MPI through the CLI's module (tools/cli_mpi.c), the commands that run sharded, and the
 * agreements that give every rank one exit code and the job one message. */
#define _GNU_SOURCE /* dladdr */
#include "cli.h"
#include "cli_mpi.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LSC_STR_(x) #x
#define LSC_STR(x) LSC_STR_(x)

/* The commands that run sharded under mpirun: each reads its rank's rows (cli_open_part) and
 * calls the sharded operation. A command joins by its line here and its sharded branch. */
static const cli_command kSharded[] = {CLI_CMD_SPECTRUM, CLI_CMD_PAIRS,           CLI_CMD_KNN,
                                       CLI_CMD_PRDC,     CLI_CMD_REFERENCE_BUILD, CLI_CMD_REPORT};

static const cli_mpi_ops *g_mpi; /* loaded and initialised: the ranks run together */
static int64_t g_comm_f;
static char g_msg[1024]; /* this rank's first failure, printed by an agreement */
static int g_have_msg;
static int g_reported; /* an agreement has printed the job's failure */

int cli_par_launched(const char **var, const char **value)
{
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) {
            if (var) *var = vars[i];
            if (value) *value = v;
            return 1;
        }
    }
    return 0;
}

int cli_par_active(void) { return g_mpi != NULL; }

/* The launcher's rank before MPI is up (only for printing one message, not for any work). */
int cli_par_env_rank(void)
{
    const char *r = getenv("OMPI_COMM_WORLD_RANK");
    if (!r || !*r) r = getenv("PMIX_RANK");
    return r && *r ? atoi(r) : 0;
}

static int hold_message(const char *line)
{
    if (!g_mpi) return 0;
    if (!g_have_msg) {
        snprintf(g_msg, sizeof g_msg, "%s", line);
        g_have_msg = 1;
    }
    return 1;
}

/* Loads the CLI's MPI module: beside liblsc (the directory the library's own modules come from),
 * else the loader's search path; LSC_CLI_MPI_MODULE names another file. RTLD_GLOBAL: the CLI
 * owns its process, and Open MPI's components then find libmpi's symbols. */
static const cli_mpi_ops *load_module(char *why, size_t why_len)
{
    static const char file[] = "liblsc_cli_mpi.so." LSC_STR(LSC_VERSION_MAJOR);
    const char *env = getenv("LSC_CLI_MPI_MODULE");
    void *h = NULL;
    if (env && *env) {
        h = dlopen(env, RTLD_NOW | RTLD_GLOBAL);
    } else {
        Dl_info info;
        if (dladdr((void *)&lsc_version, &info) && info.dli_fname) {
            const char *slash = strrchr(info.dli_fname, '/');
            char path[4096];
            if (slash && (size_t)(slash - info.dli_fname) + sizeof file + 1 < sizeof path) {
                snprintf(path, sizeof path, "%.*s/%s", (int)(slash - info.dli_fname),
                         info.dli_fname, file);
                h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
            }
        }
        if (!h) h = dlopen(file, RTLD_NOW | RTLD_GLOBAL);
    }
    if (!h) {
        const char *e = dlerror();
        snprintf(why, why_len, "cannot load the CLI's MPI module %s: %s", env && *env ? env : file,
                 e ? e : "unknown error");
        return NULL;
    }
    cli_mpi_entry_fn entry = (cli_mpi_entry_fn)dlsym(h, CLI_MPI_ENTRY);
    const cli_mpi_ops *ops = entry ? entry(CLI_MPI_ABI) : NULL;
    if (!ops) {
        snprintf(why, why_len, "the CLI's MPI module has no entry point %s for ABI %d",
                 CLI_MPI_ENTRY, CLI_MPI_ABI);
        dlclose(h);
    }
    /* kept loaded to the end of the process: MPI_Finalize runs from it */
    return ops;
}

static int is_sharded(cli_command cmd)
{
    for (size_t i = 0; i < sizeof kSharded / sizeof kSharded[0]; i++)
        if (kSharded[i] == cmd) return 1;
    return 0;
}

int cli_par_start(const cli_opts *o, cli_command cmd, int *argc, char ***argv)
{
    const char *var = NULL, *value = NULL;
    if (!cli_par_launched(&var, &value)) return 0;
    /* refusals before MPI is up: one message, from the launcher's rank 0 */
    const int quiet = cli_par_env_rank() != 0;
    char why[1024] = "";
#ifdef LSC_CLI_WITH_MPI
    const cli_mpi_ops *ops = load_module(why, sizeof why);
#else
    const cli_mpi_ops *ops = NULL;
    (void)load_module;
    snprintf(why, sizeof why,
             "this lsc was built without MPI (configure with -DLSC_MPI=ON where "
             "Open MPI's development files are installed)");
#endif
    if (!ops) {
        if (!quiet)
            cli_fail(o, EXIT_BAD_INPUT,
                     "started by mpirun (%s=%s) but %s; refusing to run one full copy of the "
                     "command a rank. Run lsc without mpirun, or with an lsc built with MPI",
                     var, value, why);
        return EXIT_BAD_INPUT;
    }
    int rank = 0, ranks = 1;
    int64_t comm_f = 0;
    int e = ops->init(argc, argv, &rank, &ranks, &comm_f, why, sizeof why);
    if (e) {
        if (e == 2) ops->finalize();
        if (!quiet) cli_fail(o, EXIT_MACHINE, "under mpirun: %s", why);
        return EXIT_MACHINE;
    }
    g_comm_f = comm_f;
    if (ranks > 1 && !is_sharded(cmd)) {
        /* the same decision on every rank: no agreement needed, one message */
        ops->finalize();
        if (rank == 0)
            cli_fail(o, EXIT_BAD_INPUT,
                     "does not run sharded yet: under mpirun with %d ranks it would compute the "
                     "whole result %d times. Run it without mpirun (or -np 1); sharded so far: "
                     "spectrum, pairs, knn, prdc, reference build, report",
                     ranks, ranks);
        return EXIT_BAD_INPUT;
    }
    g_mpi = ops;
    cli_rank_ = rank;
    cli_ranks_ = ranks;
    cli_fail_hold_ = hold_message;
    return 0;
}

int cli_par_agree(int rc)
{
    if (!g_mpi) return rc;
    /* the largest code, and the lowest rank that failed, which alone prints its message */
    int code = 0, lowest = 0;
    if (g_mpi->max(rc, &code) || g_mpi->max(rc ? cli_ranks_ - cli_rank_ : 0, &lowest)) {
        fprintf(stderr, "lsc: rank %d: an MPI agreement failed\n", cli_rank_);
        return rc ? rc : EXIT_MACHINE;
    }
    if (code && lowest == cli_ranks_ - cli_rank_ && (g_have_msg || !g_reported)) {
        if (!g_have_msg) snprintf(g_msg, sizeof g_msg, "lsc: failed (exit %d)", rc);
        if (cli_rank_ == 0) fprintf(stderr, "%s\n", g_msg);
        else fprintf(stderr, "(rank %d of %d) %s\n", cli_rank_, cli_ranks_, g_msg);
    }
    if (code) g_reported = 1;
    g_have_msg = 0;
    return code;
}

int cli_par_attach(const cli_opts *o, lsc_ctx *ctx)
{
    if (!g_mpi) return 0;
    lsc_status st = lsc_ctx_set_mpi(ctx, g_comm_f);
    return st == LSC_STATUS_OK ? 0 : cli_lib_fail(o, ctx, st, "the MPI transport");
}

int cli_par_lib_fail(const cli_opts *o, lsc_ctx *ctx, lsc_status st, const char *path,
                     const char *name, int64_t n)
{
    /* the library counts rows within the failing rank's part ("rank 2: x: row 32 col 3 is
     * NaN"); the user counts them in the file, whose part r starts at row r n / P */
    const char *e = lsc_last_error(ctx);
    int r = -1, used = 0;
    long long row = 0;
    char nm[64];
    if (st != LSC_STATUS_CANCELLED && cli_ranks_ > 1 && e &&
        sscanf(e, "rank %d: %63[^:]: row %lld%n", &r, nm, &row, &used) == 3 && used > 0 &&
        !strcmp(nm, name) && r >= 0 && r < cli_ranks_ && row >= 0) {
        const int64_t first = (int64_t)((__int128)n * r / cli_ranks_);
        return cli_fail(o, cli_status_exit(st), "%s: row %lld%s (in rank %d's part)", path,
                        (long long)(first + row), e + used, r);
    }
    return cli_lib_fail(o, ctx, st, path);
}

int cli_par_end(int rc)
{
    if (!g_mpi) return rc;
    rc = cli_par_agree(rc);
    g_mpi->finalize();
    g_mpi = NULL;
    return rc;
}
