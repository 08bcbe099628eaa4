// Helpers shared by the test suites.
#pragma once

#include "lsc.h"

#include <gtest/gtest.h>

// A CPU context for the duration of a test (workspace 0 and threads 0 mean the defaults).
struct Ctx {
    lsc_ctx *ctx = nullptr;
    explicit Ctx(size_t workspace = 0, int threads = 0)
    {
        lsc_ctx_params p = LSC_CTX_PARAMS_INIT;
        p.backend = LSC_BACKEND_CPU;
        p.workspace_limit = workspace;
        p.threads = threads;
        EXPECT_EQ(lsc_ctx_create(&p, &ctx), LSC_STATUS_OK) << lsc_last_error(ctx);
    }
    ~Ctx() { lsc_ctx_destroy(ctx); }
    Ctx(const Ctx &) = delete;
    Ctx &operator=(const Ctx &) = delete;
    operator lsc_ctx *() const { return ctx; }
};
