// zlib's raw DEFLATE decoder and CRC-32; the include path comes from pkg-config (`zlib`),
// so no absolute path is named here.
#include <zlib.h>
