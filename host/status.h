/* The one table of statuses (libuv's X-macro): enum names and messages cannot drift apart.
 * The enum itself is spelled out in include/lsc.h, pinned; a static assertion in context.c
 * checks the two agree. */
#ifndef LSC_STATUS_TABLE_H
#define LSC_STATUS_TABLE_H

#define LSC_STATUS_TABLE(X)                                                                        \
    X(OK, 0, "success")                                                                            \
    X(INVALID_ARGUMENT, 1, "invalid argument")                                                     \
    X(INVALID_DATA, 2, "invalid data (NaN, Inf or a zero row for cosine)")                         \
    X(OUT_OF_MEMORY, 3, "out of host memory")                                                      \
    X(WORKSPACE_LIMIT, 4, "the workspace limit is too small for this operation")                   \
    X(NOT_SUPPORTED, 5, "not supported by this backend")                                           \
    X(BACKEND_UNAVAILABLE, 6, "backend unavailable")                                               \
    X(DEVICE_ERROR, 7, "device error")                                                             \
    X(IO_ERROR, 8, "input/output error")                                                           \
    X(BAD_FILE, 9, "bad file (truncated, corrupt, foreign or future version)")                     \
    X(CANCELLED, 10, "cancelled by the progress callback")                                         \
    X(OVERFLOW, 11, "size overflow")                                                               \
    X(BAD_CONTEXT, 12, "the context failed to initialise")                                         \
    X(INTERNAL, 13, "internal error")                                                              \
    X(TRANSPORT_ERROR, 14, "a collective of the transport failed")

#endif
