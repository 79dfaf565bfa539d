// LAPACK's C interface (pkg-config `lapacke`).
#include <lapacke.h>
