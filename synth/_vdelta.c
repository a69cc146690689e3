/* Undo of the shards' vdelta predictor (synth/shards/codec.py) in one pass.
 *
 * The stored residual of an image holds, per row, (row - row above) mod 256;
 * the first row as is. Undoing it is a prefix sum down the rows, a recurrence
 * numpy cannot express without log2(rows) whole-array passes; here it is one
 * pass (the inner loop vectorises). Built by `pip install -e .` (setup.py,
 * optional: synth.shards falls back to numpy when this module is missing).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static void undo_rows(const uint8_t *restrict src, uint8_t *restrict dst, Py_ssize_t rows, Py_ssize_t row_bytes)
{
    memcpy(dst, src, (size_t)row_bytes);
    for (Py_ssize_t r = 1; r < rows; r++) {
        const uint8_t *restrict s = src + r * row_bytes;
        const uint8_t *restrict above = dst + (r - 1) * row_bytes;
        uint8_t *restrict d = dst + r * row_bytes;
        for (Py_ssize_t x = 0; x < row_bytes; x++)
            d[x] = (uint8_t)(above[x] + s[x]);
    }
}

static PyObject *undo(PyObject *self, PyObject *args)
{
    Py_buffer src, dst;
    Py_ssize_t rows;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*w*n", &src, &dst, &rows))
        return NULL;
    const char *problem = NULL;
    if (src.len != dst.len)
        problem = "src and dst must have the same number of bytes";
    else if (rows < 1 || src.len % rows != 0)
        problem = "rows must be positive and divide the buffer length";
    else if ((const char *)src.buf < (const char *)dst.buf + dst.len
             && (const char *)dst.buf < (const char *)src.buf + src.len)
        problem = "src and dst must not overlap";
    if (problem == NULL && src.len > 0) {
        Py_BEGIN_ALLOW_THREADS
        undo_rows((const uint8_t *)src.buf, (uint8_t *)dst.buf, rows, src.len / rows);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&src);
    PyBuffer_Release(&dst);
    if (problem != NULL) {
        PyErr_SetString(PyExc_ValueError, problem);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"undo", undo, METH_VARARGS,
     "undo(src, dst, rows): dst = vdelta-decoded src (C-contiguous bytes, rows x row_bytes, uint8 mod 256).\n\n"
     "src: residual (read-only buffer is fine); dst: writable buffer of the same length, not overlapping src."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_vdelta", "vdelta undo kernel (see synth.shards)",
                                    -1, methods};

PyMODINIT_FUNC PyInit__vdelta(void) { return PyModule_Create(&module); }
