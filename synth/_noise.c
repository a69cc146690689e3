/* Sensor noise of synth.effects.add_gaussian_noise in one pass.
 *
 * numpy needs three passes and two temporaries for it (PCG64 random_raw, a
 * table take that first widens the uint16 indices to intp, a saturating add):
 * ~0.6 ms at 256x256x3. Here the generator, the table lookup and the add run in
 * one loop. The generator is numpy's PCG64 (128-bit LCG, XSL-RR output) started
 * from the state numpy seeded, and each 64-bit output gives four 16-bit indices
 * low half first -- the bytes of random_raw viewed as little-endian uint16 --
 * so the image equals the numpy path's byte for byte (tested). Built by
 * `pip install -e .` (setup.py, optional: synth.effects falls back to numpy).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

#ifdef __SIZEOF_INT128__
typedef unsigned __int128 u128;

/* numpy's PCG_DEFAULT_MULTIPLIER_128 */
#define PCG_MULT_HI 2549297995355413924ULL
#define PCG_MULT_LO 4865540595714422341ULL

static inline uint64_t xsl_rr(u128 s)
{
    uint64_t x = (uint64_t)(s >> 64) ^ (uint64_t)s;
    unsigned rot = (unsigned)(s >> 122);
    return (x >> rot) | (x << ((64 - rot) & 63));
}

static inline uint8_t noisy(uint8_t px, const int16_t *restrict table, uint64_t raw, int k)
{
    int v = (int)px + table[(raw >> (16 * k)) & 0xffff];
    return (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
}

/* out[i] = saturate(img[i] + table[idx_i]) for n values; *state: PCG64 state, advanced past the
 * ceil(n / 4) outputs used. Four interleaved lanes (s[k+4] = m^4 s[k] + inc (m^3 + m^2 + m + 1))
 * make four independent multiply chains: the one-lane recurrence is latency bound. */
static void add_noise(const uint8_t *restrict img, uint8_t *restrict out, Py_ssize_t n,
                      const int16_t *restrict table, u128 *state, u128 inc)
{
    const u128 m = ((u128)PCG_MULT_HI << 64) | PCG_MULT_LO;
    const u128 m4 = (m * m) * (m * m);
    const u128 c4 = inc * (m * m * m + m * m + m + 1);
    u128 last = *state; /* the state whose output was used last */
    Py_ssize_t i = 0;
    if (n >= 16) {
        u128 lane[4];
        lane[0] = last * m + inc;
        for (int j = 1; j < 4; j++)
            lane[j] = lane[j - 1] * m + inc;
        for (; i + 16 <= n; i += 16) {
            for (int j = 0; j < 4; j++) {
                uint64_t raw = xsl_rr(lane[j]);
                for (int k = 0; k < 4; k++)
                    out[i + 4 * j + k] = noisy(img[i + 4 * j + k], table, raw, k);
            }
            last = lane[3];
            for (int j = 0; j < 4; j++)
                lane[j] = lane[j] * m4 + c4;
        }
    }
    for (; i < n; i += 4) {
        last = last * m + inc;
        uint64_t raw = xsl_rr(last);
        for (int k = 0; k < 4 && i + k < n; k++)
            out[i + k] = noisy(img[i + k], table, raw, k);
    }
    *state = last;
}
#endif

static PyObject *add(PyObject *self, PyObject *args)
{
    Py_buffer img, out, table;
    unsigned long long st_hi, st_lo, inc_hi, inc_lo;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*w*y*KKKK", &img, &out, &table, &st_hi, &st_lo, &inc_hi, &inc_lo))
        return NULL;
    const char *problem = NULL;
#ifdef __SIZEOF_INT128__
    if (img.len != out.len)
        problem = "img and out must have the same number of bytes";
    else if (table.len != 65536 * (Py_ssize_t)sizeof(int16_t))
        problem = "table must hold 65536 int16 values";
    else if ((const char *)img.buf < (const char *)out.buf + out.len
             && (const char *)out.buf < (const char *)img.buf + img.len)
        problem = "img and out must not overlap";
    if (problem == NULL && img.len > 0) {
        u128 state = ((u128)st_hi << 64) | st_lo, inc = ((u128)inc_hi << 64) | inc_lo;
        Py_BEGIN_ALLOW_THREADS
        add_noise((const uint8_t *)img.buf, (uint8_t *)out.buf, img.len, (const int16_t *)table.buf, &state, inc);
        Py_END_ALLOW_THREADS
    }
#else
    problem = "this build has no 128-bit integers; use the numpy path";
#endif
    PyBuffer_Release(&img);
    PyBuffer_Release(&out);
    PyBuffer_Release(&table);
    if (problem != NULL) {
        PyErr_SetString(PyExc_ValueError, problem);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"add", add, METH_VARARGS,
     "add(img, out, table, state_hi, state_lo, inc_hi, inc_lo): out = saturate(img + table[idx]), uint8.\n\n"
     "img: uint8 bytes (C order); out: writable buffer of the same length, not overlapping img;\n"
     "table: 65536 int16; idx: successive 16-bit pieces (low first) of numpy PCG64 outputs from the\n"
     "given 128-bit state and increment (each split in high and low 64 bits)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_noise", "sensor-noise kernel (see synth.effects)",
                                    -1, methods};

PyMODINIT_FUNC PyInit__noise(void) { return PyModule_Create(&module); }
