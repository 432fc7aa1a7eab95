/* out (n, m) = a (m, n)^T, both row-major: the transposes of the GRU and LSTM kernels (_recurrent.pyx,
   _lstm.pyx), where step 5 of the backward scans multiplies by U^T. float: 8 x 8 blocks through registers
   (three rounds of shuffles), the edges one by one; double (the tests' dtype) takes the plain loop. With
   another compiler float takes the plain loop too. A transpose only moves values, so
   every way gives the same bits. Included by the generated C after Python.h (for Py_ssize_t). */
#ifndef NT_TRANSPOSE_H
#define NT_TRANSPOSE_H

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define NT_TRANSPOSE_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NT_TRANSPOSE_CLONES
#endif

#define NT_TRANSPOSE_PLAIN(a, m, n, out, i0)                                                           \
    for (Py_ssize_t i = (i0); i < (m); i++)                                                            \
        for (Py_ssize_t j = 0; j < (n); j++) (out)[j * (m) + i] = (a)[i * (n) + j];

#if defined(__GNUC__) && !defined(__clang__)      /* __builtin_shuffle is GCC's */
typedef float nt_tr_v8f __attribute__((vector_size(32)));
typedef float nt_tr_v8fu __attribute__((vector_size(32), aligned(4), may_alias));
typedef int nt_tr_v8i __attribute__((vector_size(32)));

NT_TRANSPOSE_CLONES static void nt_transpose_f(const float *a, Py_ssize_t m, Py_ssize_t n, float *out) {
    const nt_tr_v8i lo1 = {0, 8, 1, 9, 4, 12, 5, 13}, hi1 = {2, 10, 3, 11, 6, 14, 7, 15};
    const nt_tr_v8i lo2 = {0, 1, 8, 9, 4, 5, 12, 13}, hi2 = {2, 3, 10, 11, 6, 7, 14, 15};
    const nt_tr_v8i lo4 = {0, 1, 2, 3, 8, 9, 10, 11}, hi4 = {4, 5, 6, 7, 12, 13, 14, 15};
    Py_ssize_t i0, j0;
    for (i0 = 0; i0 + 8 <= m; i0 += 8) {
        for (j0 = 0; j0 + 8 <= n; j0 += 8) {
            nt_tr_v8f r[8], t[8], u[8];
            for (int i = 0; i < 8; i++) r[i] = *(const nt_tr_v8fu *)(a + (i0 + i) * n + j0);
            for (int i = 0; i < 8; i += 2) {                     /* pairs of rows, interleaved */
                t[i] = __builtin_shuffle(r[i], r[i + 1], lo1);
                t[i + 1] = __builtin_shuffle(r[i], r[i + 1], hi1);
            }
            for (int i = 0; i < 8; i += 4)                       /* u[i + q]: columns q | q + 4 of 4 rows */
                for (int q = 0; q < 2; q++) {
                    u[i + 2 * q] = __builtin_shuffle(t[i + q], t[i + q + 2], lo2);
                    u[i + 2 * q + 1] = __builtin_shuffle(t[i + q], t[i + q + 2], hi2);
                }
            for (int q = 0; q < 4; q++) {                        /* columns q and q + 4 of all 8 rows */
                *(nt_tr_v8fu *)(out + (j0 + q) * m + i0) = __builtin_shuffle(u[q], u[q + 4], lo4);
                *(nt_tr_v8fu *)(out + (j0 + q + 4) * m + i0) = __builtin_shuffle(u[q], u[q + 4], hi4);
            }
        }
        for (; j0 < n; j0++)
            for (int i = 0; i < 8; i++) out[j0 * m + i0 + i] = a[(i0 + i) * n + j0];
    }
    NT_TRANSPOSE_PLAIN(a, m, n, out, i0)
}
#else
static void nt_transpose_f(const float *a, Py_ssize_t m, Py_ssize_t n, float *out) {
    NT_TRANSPOSE_PLAIN(a, m, n, out, 0)
}
#endif

static void nt_transpose_d(const double *a, Py_ssize_t m, Py_ssize_t n, double *out) {
    NT_TRANSPOSE_PLAIN(a, m, n, out, 0)
}

#endif
