// Helpers shared by the test suites.
#pragma once

#include "lsc.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

// Case-insensitive: does the library's message name `word`?
inline std::string lower(std::string s)
{
    for (auto &c : s) c = (char)std::tolower((unsigned char)c);
    return s;
}
inline bool mentions(const char *msg, const std::string &word)
{
    return msg && lower(msg).find(lower(word)) != std::string::npos;
}

// Output buffers pre-filled with a byte pattern, to prove a failed call wrote nothing; a result
// struct keeps its size field set, as a caller's would be.
template <class T, class = void>
struct has_size : std::false_type {
};
template <class T>
struct has_size<T, decltype((void)T::size, void())> : std::true_type {
};
template <class T>
void sentinel(T &o)
{
    std::memset(static_cast<void *>(&o), 0xA5, sizeof o);
    if constexpr (has_size<T>::value) o.size = sizeof o;
}
template <class T>
void sentinel(std::vector<T> &v)
{
    std::memset(static_cast<void *>(v.data()), 0xA5, v.size() * sizeof(T));
}
template <class T>
bool is_sentinel(const T &o)
{
    T s;
    sentinel(s);
    return std::memcmp(&o, &s, sizeof o) == 0;
}
template <class T>
bool is_sentinel(const std::vector<T> &v)
{
    std::vector<T> s(v.size());
    sentinel(s);
    return std::memcmp(v.data(), s.data(), v.size() * sizeof(T)) == 0;
}

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
