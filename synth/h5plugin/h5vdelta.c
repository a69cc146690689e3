/* HDF5 filter "synth-vdelta" (id 437): the shards' vertical row delta, as a filter of its own.
 *
 * Forward (writing): each row of a chunk becomes (row - row above) mod 256, bytewise; the first
 * row is kept as is. Reverse (reading): the prefix sum down the rows undoes it. Rows are
 * cd_values[0] bytes long (the dataset's row stride: W * 3 for an (N, H, W, 3) uint8 image with
 * (1, H, W, 3) chunks). The chunk keeps its size, so the filter works in place and never calls
 * back into HDF5: this file needs no HDF5 headers and the library loads into any HDF5 >= 1.8.11
 * program (h5py, h5dump, HDFView) through HDF5_PLUGIN_PATH, or registers through h5py
 * (synth/h5plugin/__init__.py). In a shard it comes before zstd (32015) in the pipeline.
 *
 * Build by hand, without the project: cc -O3 -shared -fPIC -o libh5vdelta.so h5vdelta.c
 */
#include <stddef.h>
#include <stdint.h>

#define SYNTH_VDELTA_ID 437
#define H5Z_FLAG_REVERSE 0x0100

/* The parts of HDF5's public ABI a filter plugin uses (H5Zpublic.h / H5PLextern.h, unchanged
 * since 1.8.11), declared here so that building the plugin needs no HDF5 development files. */
typedef int H5Z_filter_t;
typedef size_t (*H5Z_func_t)(unsigned int flags, size_t cd_nelmts, const unsigned int cd_values[],
                             size_t nbytes, size_t *buf_size, void **buf);
typedef struct {
    int version; /* H5Z_CLASS_T_VERS = 1 */
    H5Z_filter_t id;
    unsigned encoder_present;
    unsigned decoder_present;
    const char *name;
    void *can_apply;
    void *set_local;
    H5Z_func_t filter;
} H5Z_class2_t;
typedef enum { H5PL_TYPE_ERROR = -1, H5PL_TYPE_FILTER = 0 } H5PL_type_t;

static void encode_rows(uint8_t *buf, size_t rows, size_t row_bytes)
{
    for (size_t r = rows - 1; r > 0; r--) { /* bottom-up: each row still sees the original row above */
        uint8_t *restrict d = buf + r * row_bytes;
        const uint8_t *restrict above = d - row_bytes;
        for (size_t x = 0; x < row_bytes; x++)
            d[x] = (uint8_t)(d[x] - above[x]);
    }
}

static void decode_rows(uint8_t *buf, size_t rows, size_t row_bytes)
{
    for (size_t r = 1; r < rows; r++) { /* top-down: the row above is already decoded */
        uint8_t *restrict d = buf + r * row_bytes;
        const uint8_t *restrict above = d - row_bytes;
        for (size_t x = 0; x < row_bytes; x++)
            d[x] = (uint8_t)(d[x] + above[x]);
    }
}

/* Returns the chunk's size (unchanged) or 0, HDF5's failure value, on bad parameters. */
static size_t vdelta_filter(unsigned int flags, size_t cd_nelmts, const unsigned int cd_values[],
                            size_t nbytes, size_t *buf_size, void **buf)
{
    if (cd_nelmts < 1 || cd_values[0] == 0 || nbytes % cd_values[0] != 0 || nbytes > *buf_size)
        return 0;
    size_t row_bytes = cd_values[0], rows = nbytes / row_bytes;
    if (rows > 1) {
        if (flags & H5Z_FLAG_REVERSE)
            decode_rows((uint8_t *)*buf, rows, row_bytes);
        else
            encode_rows((uint8_t *)*buf, rows, row_bytes);
    }
    return nbytes;
}

static const H5Z_class2_t SYNTH_VDELTA = {
    1, SYNTH_VDELTA_ID, 1, 1,
    "synth-vdelta (headpose-synth row delta; plugin: synth/h5plugin)",
    NULL, NULL, vdelta_filter,
};

H5PL_type_t H5PLget_plugin_type(void) { return H5PL_TYPE_FILTER; }
const void *H5PLget_plugin_info(void) { return &SYNTH_VDELTA; }
