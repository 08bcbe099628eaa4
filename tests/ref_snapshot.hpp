// The bytes of a reference object and of everything it points to (rows, radii, preparation), for
// tests that calls given a `const lsc_reference *` never write it: no cache, no lazily made
// state, so one reference may be read by many threads at once. Reads the library's private
// layout (host/internal.h), which is what such a write would change.
#pragma once

#include "../host/internal.h"

#include <cstring>
#include <vector>

struct RefSnapshot {
    std::vector<unsigned char> obj, rows, radius_v, radius, half;

    explicit RefSnapshot(const lsc_reference *r)
    {
        const auto *p = reinterpret_cast<const unsigned char *>(r);
        obj.assign(p, p + sizeof *r);
        const size_t n = (size_t)r->rows;
        take(rows, r->data, n * (size_t)r->cols * sizeof(float));
        take(radius_v, r->radius_v, n * sizeof(double));
        take(radius, r->radius, n * sizeof(double));
        if (r->half) take(half, r->half, 16 + n / 2 * sizeof(double));
    }
    bool operator==(const RefSnapshot &o) const
    {
        return obj == o.obj && rows == o.rows && radius_v == o.radius_v && radius == o.radius &&
               half == o.half;
    }
    bool unchanged(const lsc_reference *r) const { return RefSnapshot(r) == *this; }

  private:
    static void take(std::vector<unsigned char> &v, const void *p, size_t bytes)
    {
        const auto *b = static_cast<const unsigned char *>(p);
        v.assign(b, b + bytes);
    }
};
