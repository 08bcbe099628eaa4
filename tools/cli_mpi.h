/* The CLI's MPI module (tools/cli_mpi.c, liblsc_cli_mpi.so.<major>): the table of the calls it
 * offers, found through its one entry point lsc_cli_mpi_entry(CLI_MPI_ABI). Every call is made
 * on the CLI's main thread. */
#ifndef LSC_TOOLS_CLI_MPI_H
#define LSC_TOOLS_CLI_MPI_H

#include <stddef.h>
#include <stdint.h>

#define CLI_MPI_ABI 1
#define CLI_MPI_ENTRY "lsc_cli_mpi_entry"

typedef struct cli_mpi_ops {
    int abi;
    /* MPI_Init_thread(FUNNELED) and this process's place in MPI_COMM_WORLD, whose Fortran handle
     * goes to lsc_ctx_set_mpi. 0; 1 when MPI could not be initialised; 2 when it was but below
     * FUNNELED (finalize must still be called). The reason in why. */
    int (*init)(int *argc, char ***argv, int *rank, int *ranks, int64_t *comm_f, char *why,
                size_t why_len);
    /* The largest v of all ranks into *out (collective); nonzero when MPI failed. */
    int (*max)(int v, int *out);
    void (*finalize)(void);
} cli_mpi_ops;

typedef const cli_mpi_ops *(*cli_mpi_entry_fn)(int abi);

#endif
