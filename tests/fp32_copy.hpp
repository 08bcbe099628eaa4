// The kNN and PRDC suites run twice under ctest: as built (the AMX product where the CPU has one)
// and as the *.fp32 copy with LSC_CPU_AMX=0 (the float32 GEMM). On a CPU without AMX-BF16 both
// runs take the same float32 path, so the copy skips itself instead of repeating every test (ctest reports it skipped:
// tests/CMakeLists.txt matches the message).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace fp32_copy {

inline bool cpu_has_amx_bf16()
{
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    return ((d >> 22) & 1u) && ((d >> 24) & 1u); // AMX-BF16, AMX-TILE
#else
    return false;
#endif
}

class SkipWithoutAmx : public ::testing::Environment {
  public:
    void SetUp() override
    {
        const char *e = std::getenv("LSC_CPU_AMX");
        if (e && std::strcmp(e, "0") == 0 && !cpu_has_amx_bf16())
            GTEST_SKIP() << "fp32 copy skipped: this CPU has no AMX-BF16, so the suite's own "
                            "run already took the float32 path";
    }
};

inline const bool registered = (::testing::AddGlobalTestEnvironment(new SkipWithoutAmx), true);

} // namespace fp32_copy
