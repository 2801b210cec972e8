/* The stb implementations nstyle uses, compiled once here: stb_image v2.27 (decoding PNG, JPEG,
 * BMP and TGA only: the other formats are compiled out, so they are refused rather than
 * half-supported), stb_image_write v1.16 (PNG, JPEG; BMP and TGA for the tests' inputs) and
 * stb_image_resize v0.97 (the v1 API). These headers (Debian libstb-dev) compile cleanly under
 * the project's -Wall -Wextra -Wshadow with GCC 12 and Clang; should a newer stb warn, wrap the
 * includes in `#pragma GCC diagnostic push/ignored/pop` here rather than relaxing CMake flags.
 * Used by image.c; tested through it by tests/test_image.c and tests/test_image_resize.c. */

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_TGA
#include <stb_image.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>

#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include <stb_image_resize.h>
