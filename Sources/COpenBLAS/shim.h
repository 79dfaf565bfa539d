// OpenBLAS's CBLAS interface and its thread controls; the include path comes from
// pkg-config (`openblas`), so no absolute path is named here.
#include <cblas.h>
