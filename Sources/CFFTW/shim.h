// FFTW 3, double (`fftw_*`) and single (`fftwf_*`) precision, one header for both
// (pkg-config `fftw3`; `fftw3f` links through the module map).
#include <fftw3.h>
