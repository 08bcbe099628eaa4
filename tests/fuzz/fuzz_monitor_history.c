/* libFuzzer target: `lsc monitor-report` on hostile histories (tools/monitor_report.c, read with
 * cJSON). The input bytes are the history file; the command must return 0 with a page that is
 * valid UTF-8, or exit 2 (bad input) with nothing written - never crash, leak or read out of
 * bounds. Run with -close_fd_mask=2: every refusal prints one line on stderr. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char hist_path[512], page_path[512];

/* the scratch files go when the fuzzer exits (libFuzzer's runs end in exit()) */
static void remove_scratch(void)
{
    remove(hist_path);
    remove(page_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!hist_path[0]) {
        const char *dir = getenv("TMPDIR");
        snprintf(hist_path, sizeof hist_path, "%s/lsc_fuzz_%ld.jsonl", dir && *dir ? dir : "/tmp",
                 (long)getpid());
        snprintf(page_path, sizeof page_path, "%s/lsc_fuzz_%ld.html", dir && *dir ? dir : "/tmp",
                 (long)getpid());
        atexit(remove_scratch);
    }
    FILE *f = fopen(hist_path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f)) abort();
    remove(page_path);
    cli_opts o;
    cli_opts_init(&o);
    o.cmd = "monitor-report";
    o.html = page_path;
    int rc = cmd_monitor_report(&o, hist_path);
    remove(hist_path);
    FILE *p = fopen(page_path, "rb");
    if (rc != 0) {
        if (rc != EXIT_BAD_INPUT || p) abort(); /* a refusal writes nothing */
        return 0;
    }
    if (!p) abort();
    /* the page is valid UTF-8 whatever bytes the history's strings held */
    if (fseek(p, 0, SEEK_END) != 0) abort();
    long len = ftell(p);
    if (len <= 0 || fseek(p, 0, SEEK_SET) != 0) abort();
    unsigned char *page = malloc((size_t)len + 4);
    if (!page || fread(page, 1, (size_t)len, p) != (size_t)len) abort();
    memset(page + len, 0, 4); /* a sequence cut at the end fails its continuation check */
    for (long i = 0; i < len;) {
        int l = cli_utf8_len(page + i);
        if (l == 0 || i + l > len) abort();
        i += l;
    }
    free(page);
    fclose(p);
    remove(page_path);
    return 0;
}
