// MPICH's C interface (pkg-config `mpich`; Debian's `libmpich-dev`). MPICH defines the
// predefined handles as macros with casts (`((MPI_Comm)0x44000000)`), which Swift does not
// import, so each one Curvature uses is returned by an inline function here.
#include <mpi.h>

static inline MPI_Comm curvature_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype curvature_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype curvature_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype curvature_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype curvature_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op curvature_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op curvature_mpi_max(void) { return MPI_MAX; }
static inline void *curvature_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline int curvature_mpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline int curvature_mpi_success(void) { return MPI_SUCCESS; }
