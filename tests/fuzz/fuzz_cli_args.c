/* libFuzzer target: the lsc command line's argument parsing (cli_parse_argv, tools/args.c).
 * The input is split at NUL bytes into argv[1..] (argv[0] = "lsc", at most 64 arguments); the
 * parse must return 0 or a documented exit code and leave the options within their ranges. Run
 * with -close_fd_mask=2: every refusal prints one line on stderr. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum { MAX_ARGS = 64 };
    char *buf = malloc(size + 1);
    if (!buf) abort();
    if (size) memcpy(buf, data, size);
    buf[size] = 0;
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = (char *)"lsc";
    size_t start = 0;
    for (size_t i = 0; i <= size && argc < MAX_ARGS + 1; i++) {
        if (i == size || buf[i] == 0) {
            if (i > start || i < size) argv[argc++] = buf + start;
            start = i + 1;
        }
    }
    argv[argc] = NULL;

    cli_opts o;
    cli_command cmd;
    int help = 0;
    const char *pos = NULL;
    int rc = cli_parse_argv(&o, argc, argv, &cmd, &help, &pos);
    if (rc != 0 && rc != EXIT_BAD_INPUT) abort();
    if (rc == 0 && !help) {
        if ((int)cmd < CLI_CMD_HELP || (int)cmd >= CLI_CMD_COUNT) abort();
        if (o.k < 1 || o.bins < 1 || o.bins > 100000000 || o.pairs_max_rows < 0 ||
            o.pairs_max_rows == 1 || o.threads < 0 || o.threads > 4096)
            abort();
        if (!isfinite(o.dup_eps) || o.dup_eps < 0 || !isfinite(o.active_threshold) ||
            o.active_threshold < 0)
            abort();
        if (o.subsets < 1 || o.subsets > 1000000 || o.subset_rows < 2 || !(o.sigma > 0) ||
            !isfinite(o.sigma) || !(o.scale > 0) || !isfinite(o.scale))
            abort();
        if ((o.kid | o.mmd) & ~1) abort();
        if (memchr(o.kid_opt, 0, sizeof o.kid_opt) == NULL ||
            memchr(o.mmd_opt, 0, sizeof o.mmd_opt) == NULL)
            abort();
        /* the two commands that take a file name without an option */
        if (pos && cmd != CLI_CMD_REFERENCE_INSPECT && cmd != CLI_CMD_MONITOR_REPORT) abort();
        /* every string option points into argv */
        const char *s[] = {o.real,      o.fake,   o.input,       o.queries, o.base,
                           o.reference, o.out,    o.out_dist,    o.out_idx, o.json,
                           o.html,      o.labels, o.fake_labels, pos};
        for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
            if (s[i] && (s[i] < buf || s[i] > buf + size)) abort();
    }
    free(buf);
    return 0;
}
