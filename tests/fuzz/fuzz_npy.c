/* libFuzzer target: the .npy readers of the lsc command line (tools/input.c), every header
 * version, dtype and order: the matrix reader, then the label reader on the same bytes. See
 * fuzz_input_common.h. */
#include "fuzz_input_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_open_and_touch(".npy", data, size);
    int64_t *labels = NULL, n = -1;
    char err[512];
    err[0] = 0;
    int rc = lsc_labels_open(fuzz_path, &labels, &n, err, sizeof err);
    if (rc != 0) {
        if ((rc != 1 && rc != 2) || !err[0] || labels || n != 0) abort();
        return 0;
    }
    if (!labels || n < 1) abort();
    /* every label is ASan-checked memory; xor, since any two int64 labels may overflow a sum */
    volatile int64_t sink = labels[0] ^ labels[n - 1];
    (void)sink;
    free(labels);
    return 0;
}
