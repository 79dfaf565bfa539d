// OpenBLAS's CBLAS interface and its thread controls; the include path comes from
// pkg-config (`openblas`), so no absolute path is named here.
#include <cblas.h>

// OpenBLAS's worker-thread pool (driver/others/blas_server.c), exported by the library but
// declared in no public header. `blas_thread_shutdown_` joins the workers (the next
// multi-threaded call starts them again); `blas_server_avail` is nonzero while they run
// (read atomically here: other threads write it under OpenBLAS's lock).
int blas_thread_shutdown_(void);
// Re-reads OpenBLAS's environment variables (driver/others/openblas_env.c); the worker
// threads take OPENBLAS_THREAD_TIMEOUT from it each time they are started.
void openblas_read_env(void);
extern int blas_server_avail;
static inline int openblas_workers_running(void) {
  return __atomic_load_n(&blas_server_avail, __ATOMIC_ACQUIRE) != 0;
}
