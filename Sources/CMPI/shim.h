// MPI (MPICH and the implementations of the MPICH ABI: Intel MPI, MVAPICH, Cray MPICH),
// loaded at run time with dlopen rather than linked.
//
// Why not `#include <mpi.h>` and `link "mpich"`: Debian's mpich.pc puts `-Wl,-z,relro`
// in its Libs, which SwiftPM refuses with a warning on every build (and a header found
// without pkg-config is not possible: mpi.h lives in a multiarch directory and includes
// <mpi_proto.h> from it). Loading the library at run time also keeps it out of every
// process that does not run under mpiexec: linking libmpich (and its hwloc, UCX, …)
// costs each start of `curv` about 6 ms, and a machine without MPI can still run it.
//
// The declarations below are the MPICH ABI (stable since MPICH 3.1, soname
// libmpi.so.12 / libmpich.so.12): handles are `int`s with fixed values, and the
// functions Curvature calls have these C signatures (MPICH's mpi_proto.h).
#ifndef CURVATURE_CMPI_SHIM_H
#define CURVATURE_CMPI_SHIM_H
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>

typedef int curvature_mpi_comm;
typedef int curvature_mpi_datatype;
typedef int curvature_mpi_op;

static inline curvature_mpi_comm curvature_mpi_comm_world(void) { return 0x44000000; }
static inline curvature_mpi_datatype curvature_mpi_float(void) { return 0x4c00040a; }
static inline curvature_mpi_datatype curvature_mpi_double(void) { return 0x4c00080b; }
static inline curvature_mpi_datatype curvature_mpi_int64(void) { return 0x4c00083a; }
static inline curvature_mpi_datatype curvature_mpi_byte(void) { return 0x4c00010d; }
static inline curvature_mpi_op curvature_mpi_sum(void) { return 0x58000003; }
static inline curvature_mpi_op curvature_mpi_max(void) { return 0x58000001; }
static inline void *curvature_mpi_in_place(void) { return (void *)-1; }
static inline int curvature_mpi_thread_serialized(void) { return 2; }
static inline int curvature_mpi_success(void) { return 0; }
enum { CURVATURE_MPI_MAX_ERROR_STRING = 512 };

/// The MPI functions Curvature calls, resolved from the loaded library.
typedef struct curvature_mpi_functions {
  int (*init_thread)(int *, char ***, int, int *);
  int (*initialized)(int *);
  int (*finalized)(int *);
  int (*finalize)(void);
  int (*comm_rank)(curvature_mpi_comm, int *);
  int (*comm_size)(curvature_mpi_comm, int *);
  int (*abort)(curvature_mpi_comm, int);
  int (*allreduce)(const void *, void *, int, curvature_mpi_datatype, curvature_mpi_op, curvature_mpi_comm);
  int (*alltoall)(const void *, int, curvature_mpi_datatype, void *, int, curvature_mpi_datatype, curvature_mpi_comm);
  int (*allgather)(const void *, int, curvature_mpi_datatype, void *, int, curvature_mpi_datatype, curvature_mpi_comm);
  int (*bcast)(void *, int, curvature_mpi_datatype, int, curvature_mpi_comm);
  int (*barrier)(curvature_mpi_comm);
  double (*wtime)(void);
  int (*error_string)(int, char *, int *);
} curvature_mpi_functions;

/// Loads the MPI library and resolves every function: the path in `CURVATURE_MPI_LIBRARY`
/// when set, else `libmpich.so.12`, else `libmpi.so.12`. Returns NULL on success, else a
/// description of what failed (dlerror's text, valid until the next dl call).
static inline const char *curvature_mpi_load(curvature_mpi_functions *f) {
  const char *names[3] = { getenv("CURVATURE_MPI_LIBRARY"), "libmpich.so.12", "libmpi.so.12" };
  void *library = NULL;
  const char *error = "no MPI library named";
  for (int i = 0; i < 3 && library == NULL; i++) {
    if (names[i] == NULL || names[i][0] == 0) continue;
    // RTLD_GLOBAL: MPICH's own plug-ins (network modules) resolve symbols against it.
    library = dlopen(names[i], RTLD_NOW | RTLD_GLOBAL);
    if (library == NULL) error = dlerror();
  }
  if (library == NULL) return error;
#define CURVATURE_MPI_RESOLVE(field, symbol) \
  if ((*(void **)&f->field = dlsym(library, symbol)) == NULL) return dlerror();
  CURVATURE_MPI_RESOLVE(init_thread, "MPI_Init_thread")
  CURVATURE_MPI_RESOLVE(initialized, "MPI_Initialized")
  CURVATURE_MPI_RESOLVE(finalized, "MPI_Finalized")
  CURVATURE_MPI_RESOLVE(finalize, "MPI_Finalize")
  CURVATURE_MPI_RESOLVE(comm_rank, "MPI_Comm_rank")
  CURVATURE_MPI_RESOLVE(comm_size, "MPI_Comm_size")
  CURVATURE_MPI_RESOLVE(abort, "MPI_Abort")
  CURVATURE_MPI_RESOLVE(allreduce, "MPI_Allreduce")
  CURVATURE_MPI_RESOLVE(alltoall, "MPI_Alltoall")
  CURVATURE_MPI_RESOLVE(allgather, "MPI_Allgather")
  CURVATURE_MPI_RESOLVE(bcast, "MPI_Bcast")
  CURVATURE_MPI_RESOLVE(barrier, "MPI_Barrier")
  CURVATURE_MPI_RESOLVE(wtime, "MPI_Wtime")
  CURVATURE_MPI_RESOLVE(error_string, "MPI_Error_string")
#undef CURVATURE_MPI_RESOLVE
  return NULL;
}
#endif
