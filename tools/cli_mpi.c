/* liblsc_cli_mpi: the few MPI calls the `lsc` command line makes itself when mpirun starts it
 * (initialise, the world communicator's handle, one agreement on a number, finalise). A module
 * the CLI loads only under mpirun, like the library's liblsc_mpi, so that `lsc` itself links no
 * MPI: it starts, and runs one process, on a machine without Open MPI. */
#include "cli_mpi.h"

#include <mpi.h>
#include <stdio.h>

static int cm_init(int *argc, char ***argv, int *rank, int *ranks, int64_t *comm_f, char *why,
                   size_t why_len)
{
    int init = 0, level = MPI_THREAD_SINGLE;
    MPI_Initialized(&init);
    if (init) {
        snprintf(why, why_len, "MPI is already initialised in this process");
        return 1;
    }
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &level) != MPI_SUCCESS) {
        snprintf(why, why_len, "MPI_Init_thread(MPI_THREAD_FUNNELED) failed");
        return 1;
    }
    /* errors come back as codes: the CLI then exits with one instead of MPI aborting the job */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, rank);
    MPI_Comm_size(MPI_COMM_WORLD, ranks);
    *comm_f = (int64_t)MPI_Comm_c2f(MPI_COMM_WORLD);
    if (level < MPI_THREAD_FUNNELED) {
        /* lsc's OpenMP workers run beside the thread making MPI calls: SINGLE is not enough */
        snprintf(why, why_len,
                 "this MPI provides thread level %d, below MPI_THREAD_FUNNELED, which lsc needs",
                 level);
        return 2;
    }
    return 0;
}

static int cm_max(int v, int *out)
{
    *out = v;
    return MPI_Allreduce(MPI_IN_PLACE, out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS;
}

static void cm_finalize(void)
{
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Finalize();
}

__attribute__((visibility("default"))) const cli_mpi_ops *lsc_cli_mpi_entry(int abi)
{
    static const cli_mpi_ops ops = {CLI_MPI_ABI, cm_init, cm_max, cm_finalize};
    return abi == CLI_MPI_ABI ? &ops : NULL;
}
