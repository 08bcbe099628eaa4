/* libFuzzer target: .npz archives (tools/input_npz.c: the member walk over libzip, the array
 * chosen by name, stored members used in place, compressed ones inflated under the size limit)
 * and the `path:name` selection, for matrices and labels. See fuzz_container in
 * fuzz_input_common.h. */
#include "fuzz_input_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_container(".npz", data, size);
}
