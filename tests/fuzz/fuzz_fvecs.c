/* libFuzzer target: the .fvecs reader of the lsc command line (tools/input.c). See
 * fuzz_input_common.h. */
#include "fuzz_input_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_open_and_touch(".fvecs", data, size);
}
