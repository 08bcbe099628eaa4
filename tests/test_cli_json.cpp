// The command line's JSON writer (tools/common.c): valid UTF-8 whatever bytes a string holds, and
// nesting bounded rather than written past its bookkeeping.
extern "C" {
#include "cli.h"
}

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

std::string written(void (*fill)(json_w *), int *ok = nullptr)
{
    char *buf = nullptr;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    json_w w;
    jw_open(&w, f);
    fill(&w);
    jw_close(&w);
    if (ok) *ok = jw_ok(&w);
    fclose(f);
    std::string s(buf, len);
    free(buf);
    return s;
}

} // namespace

TEST(CliJson, BytesThatAreNotUtf8AreEscaped)
{
    std::string s = written([](json_w *w) {
        jw_obj(w, nullptr);
        // a stray byte, valid 2-, 3- and 4-byte sequences, an overlong form, a surrogate, a
        // sequence cut short by the end of the string
        jw_str(w, "p",
               "a\xff"
               "b \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xc0\xaf \xed\xa0\x80 \xe2\x82");
        jw_end_obj(w);
    });
    EXPECT_EQ(s, "{\n  \"p\": \"a\\u00ffb \xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \\u00c0\\u00af "
                 "\\u00ed\\u00a0\\u0080 \\u00e2\\u0082\"\n}\n");
}

TEST(CliJson, ControlCharactersAndQuotesAreEscaped)
{
    std::string s = written([](json_w *w) {
        jw_arr(w, nullptr);
        jw_str(w, nullptr, "\"q\"\\\n\t\x01");
        jw_end_arr(w);
    });
    EXPECT_EQ(s, "[\n  \"\\\"q\\\"\\\\\\n\\u0009\\u0001\"\n]\n");
}

TEST(CliJson, NestingPastTheLimitIsNotWrittenAndIsReported)
{
    int ok = 1;
    std::string s = written(
        [](json_w *w) {
            for (int i = 0; i < 3 * JW_MAX_DEPTH; i++) jw_arr(w, nullptr);
            jw_int(w, nullptr, 7);
            for (int i = 0; i < 3 * JW_MAX_DEPTH; i++) jw_end_arr(w);
        },
        &ok);
    EXPECT_FALSE(ok);
    int open = 0, most = 0;
    for (char c : s) {
        if (c == '[') most = std::max(most, ++open);
        if (c == ']') --open;
    }
    EXPECT_EQ(open, 0) << s; // what was written still closes
    EXPECT_LT(most, JW_MAX_DEPTH);
    EXPECT_EQ(s.find('7'), std::string::npos);

    std::string fine = written(
        [](json_w *w) {
            jw_obj(w, nullptr);
            jw_arr(w, "a");
            jw_int(w, nullptr, 1);
            jw_end_arr(w);
            jw_end_obj(w);
        },
        &ok);
    EXPECT_TRUE(ok) << fine;
}
