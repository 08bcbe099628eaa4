/* libFuzzer target: .safetensors files (tools/input_safetensors.c: the header length, the JSON
 * header through cJSON, every tensor's offsets, dtype and shape) and the `path:name` selection,
 * for matrices and labels. See fuzz_container in fuzz_input_common.h. */
#include "fuzz_input_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_container(".safetensors", data, size);
}
