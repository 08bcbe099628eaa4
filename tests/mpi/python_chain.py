"""The MPI transport reached from Python through ctypes alone, run by ctest under mpirun.

The chain Open MPI is known to trip over: the program loads libmpi with RTLD_LOCAL (ctypes'
default; mpi4py is not needed) and initialises it, then loads liblsc with RTLD_LOCAL (as the
binding does), which loads the module liblsc_mpi, which links libmpi. Every rank then runs
lsc_knn_sharded over its slice of a base and must get the lists of lsc_knn on the whole base.

    python3 python_chain.py LIBLSC
Exit 0 when every rank passed; 77 (skipped) when libmpi is not Open MPI's."""
import ctypes as C
import sys

MPI_THREAD_FUNNELED = 1  # Open MPI's value


def main():
    mpi = C.CDLL("libmpi.so.40", mode=C.RTLD_LOCAL)
    try:
        world = C.addressof(C.c_char.in_dll(mpi, "ompi_mpi_comm_world"))
    except ValueError:
        print("SKIPPED: libmpi.so.40 is not Open MPI's (no ompi_mpi_comm_world)")
        return 77
    provided = C.c_int(0)
    if mpi.MPI_Init_thread(None, None, MPI_THREAD_FUNNELED, C.byref(provided)) != 0:
        print("MPI_Init_thread failed")
        return 1
    rank, size = C.c_int(0), C.c_int(0)
    mpi.MPI_Comm_rank(C.c_void_p(world), C.byref(rank))
    mpi.MPI_Comm_size(C.c_void_p(world), C.byref(size))
    mpi.MPI_Comm_c2f.restype = C.c_int
    comm_f = mpi.MPI_Comm_c2f(C.c_void_p(world))

    lib = C.CDLL(sys.argv[1], mode=C.RTLD_LOCAL)

    class Matrix(C.Structure):
        _fields_ = [("data", C.c_void_p), ("dtype", C.c_int), ("rows", C.c_int64),
                    ("cols", C.c_int64), ("ld", C.c_int64), ("memory", C.c_int)]

    lib.lsc_last_error.restype = C.c_char_p
    lib.lsc_ctx_set_mpi.argtypes = [C.c_void_p, C.c_int64]
    lib.lsc_knn.argtypes = lib.lsc_knn_sharded.argtypes = [
        C.c_void_p, C.POINTER(Matrix), C.POINTER(Matrix), C.c_int64, C.c_void_p,
        C.POINTER(C.c_float), C.POINTER(C.c_int64)]
    ctx = C.c_void_p()
    failures = []
    if lib.lsc_ctx_create(None, C.byref(ctx)) != 0:
        failures.append("lsc_ctx_create: " + lib.lsc_last_error(ctx).decode())
    elif lib.lsc_ctx_set_mpi(ctx, comm_f) != 0:
        failures.append("lsc_ctx_set_mpi: " + lib.lsc_last_error(ctx).decode())
    else:
        n, d, nq, k = 23, 4, 3, 5
        base = (C.c_float * (n * d))(*[((i * 37) % 101) / 7.0 for i in range(n * d)])
        qs = (C.c_float * (nq * d))(*[((i * 53) % 89) / 5.0 for i in range(nq * d)])
        lo, hi = n * rank.value // size.value, n * (rank.value + 1) // size.value
        whole = Matrix(C.cast(base, C.c_void_p), 0, n, d, d, 0)
        mine = Matrix(C.cast(C.byref(base, lo * d * 4), C.c_void_p) if hi > lo else None, 0,
                      hi - lo, d, d, 0)
        queries = Matrix(C.cast(qs, C.c_void_p), 0, nq, d, d, 0)
        wd, gd = (C.c_float * (nq * k))(), (C.c_float * (nq * k))()
        wi, gi = (C.c_int64 * (nq * k))(), (C.c_int64 * (nq * k))()
        if lib.lsc_knn(ctx, C.byref(queries), C.byref(whole), k, None, wd, wi) != 0:
            failures.append("lsc_knn: " + lib.lsc_last_error(ctx).decode())
        elif lib.lsc_knn_sharded(ctx, C.byref(queries), C.byref(mine), k, None, gd, gi) != 0:
            failures.append("lsc_knn_sharded: " + lib.lsc_last_error(ctx).decode())
        elif list(gi) != list(wi) or list(gd) != list(wd):
            failures.append("lists differ from one process's")
    lib.lsc_ctx_destroy(ctx)
    bad = C.c_int(len(failures))
    total = C.c_int(0)
    mpi_int = C.addressof(C.c_char.in_dll(mpi, "ompi_mpi_int"))
    mpi_sum = C.addressof(C.c_char.in_dll(mpi, "ompi_mpi_op_sum"))
    mpi.MPI_Allreduce(C.byref(bad), C.byref(total), 1, C.c_void_p(mpi_int),
                      C.c_void_p(mpi_sum), C.c_void_p(world))
    for f in failures:
        print(f"rank {rank.value}: {f}")
    if rank.value == 0:
        print(f"python_chain: {size.value} ranks, {total.value} failures")
    mpi.MPI_Finalize()
    return 1 if total.value else 0


if __name__ == "__main__":
    sys.exit(main())
