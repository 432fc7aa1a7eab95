# cython: language_level=3
"""Cython kernels of the GRU: whole-sequence scans of one direction.

``gru_scan_forward`` / ``gru_scan_backward`` run the whole time loop of one direction in C: per step one
matrix product for the recurrent term of the real rows (BLAS through SciPy's ``cython_blas``, or
``nt_gemm_rows`` below for a large U and few rows) and one vectorised pass for the gates, with no Python in
the loop, no per-step allocation and no gather for reversed reading or batch order. Their NumPy twins, same
names and signatures, are in :mod:`nertag.net.recurrent_numpy`. Notation and numbered steps as in
:mod:`nertag.net.gru`.
"""
cimport cython
from cython cimport floating

import numpy as np


# ----------------------------------------------------------------------------------------------------------
# Whole-sequence kernels: the time loop of a GRU direction in C, one product h_{t-1} U per step
# ----------------------------------------------------------------------------------------------------------
#
# Layouts (NumPy twins: nertag.net.recurrent_numpy.gru_scan_forward / gru_scan_backward)
#   lengths (B,)   sequence lengths sorted in decreasing order;  order (B,) the batch column of sorted row i
#   k_t            #{i : lengths[i] > t}, the real rows of step t, a prefix of the sorted rows
#   p(i, t)        position read and written by row i at step t: t, or lengths[i] - 1 - t when reverse
#   "batch layout" (T, B, .) arrays indexed [position, column]: A, Y, dY, dA (Y and dY may be strided views
#                  whose last axis is contiguous, e.g. one half of a bidirectional output)
#   "step layout"  arrays indexed [step, sorted row]: S (T+1, B, H) with S[t + 1] = h_t, RZN, Gn
#   "packed"       (N, .) arrays, N = sum(lengths): the real rows of the step layout only, step after step:
#                  row o_t + i for row i < k_t of step t, o_t = k_0 + .. + k_{t-1} (Padded.step_rows lists
#                  the batch position of each): A, dA, dG, Sp. The products over all positions
#                  (x W, dW, dU, dX in nertag.net.gru) are then one GEMM each over real rows only.
# The states of one step are then contiguous rows, so the GEMM h_{t-1} U of the k_t real rows is one call,
# and neither the batch order nor the direction costs a gather: each row addresses its own position.
# Padded entries (rows i >= k_t of the step layout, positions p >= lengths[i] of the batch layout) are
# written as 0. The elementwise loops are C functions the compiler vectorises, cloned for AVX-512 and AVX2
# where GCC supports it. float32 uses a rational tanh (error < 4e-7; sigmoid(x) = (1 + tanh(x/2)) / 2),
# float64 libm's exp and tanh.

from libc.string cimport memcpy, memset
from scipy.linalg.cython_blas cimport dgemm, sgemm


cdef extern from *:
    """
    #include <math.h>
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
    #define NT_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
    #else
    #define NT_CLONES
    #endif
    #if defined(__GNUC__) && !defined(__clang__)
    #pragma GCC push_options
    #pragma GCC optimize ("no-trapping-math")   /* lets the clamps of nt_tanhf become vector min/max */
    #endif

    /* tanh for float32: the rational approximation of Eigen's generic_fast_tanh_float, clamped so that
       |tanh| < 1; max abs error 4e-7. NaN propagates. Vectorises (no calls, no table lookups). */
    static inline float nt_tanhf(float x) {
        const float c = 7.90531110763549805f;
        x = x > c ? c : x;
        x = x < -c ? -c : x;
        const float x2 = x * x;
        float p = -2.76076847742355e-16f;
        p = p * x2 + 2.00018790482477e-13f;
        p = p * x2 - 8.60467152213735e-11f;
        p = p * x2 + 5.12229709037114e-08f;
        p = p * x2 + 1.48572235717979e-05f;
        p = p * x2 + 6.37261928875436e-04f;
        p = p * x2 + 4.89352455891786e-03f;
        p = p * x;
        float q = 1.19825839466702e-06f;
        q = q * x2 + 1.18534705686654e-04f;
        q = q * x2 + 2.26843463243900e-03f;
        q = q * x2 + 4.89352518554385e-03f;
        return p / q;
    }
    static inline float nt_sigmoidf(float x) { return 0.5f + 0.5f * nt_tanhf(0.5f * x); }
    static inline double nt_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

    /* One row of the forward step: r, z, n, g_n and h = n + z (h_prev - n), also copied to y. */
    #define NT_GRU_ROW_FORWARD(NAME, T, TANH, SIGMOID)                                                    \\
    NT_CLONES static void NAME(Py_ssize_t H, const T *__restrict a, const T *__restrict bias,            \\
                               const T *__restrict g, const T *__restrict cn, const T *__restrict hp,    \\
                               T *__restrict rzn,                                                        \\
                               T *__restrict gn, T *__restrict h, T *__restrict y) {                     \\
        for (Py_ssize_t j = 0; j < H; j++) {                                                             \\
            const T r = SIGMOID(a[j] + bias[j] + g[j]);                                                  \\
            const T z = SIGMOID(a[H + j] + bias[H + j] + g[H + j]);                                      \\
            const T gnj = g[2 * H + j] + cn[j];                                                          \\
            const T nj = TANH(a[2 * H + j] + bias[2 * H + j] + r * gnj);                                 \\
            const T hj = nj + z * (hp[j] - nj);                                                          \\
            rzn[j] = r; rzn[H + j] = z; rzn[2 * H + j] = nj; gn[j] = gnj; h[j] = hj; y[j] = hj;          \\
        }                                                                                                \\
    }
    NT_GRU_ROW_FORWARD(nt_gru_row_forward_f, float, nt_tanhf, nt_sigmoidf)
    NT_GRU_ROW_FORWARD(nt_gru_row_forward_d, double, tanh, nt_sigmoid)

    /* One row of backward steps 1-4 and the first term of 5 (numbered as in nertag.net.gru). */
    #define NT_GRU_ROW_BACKWARD(NAME, T)                                                                  \\
    NT_CLONES static void NAME(Py_ssize_t H, T *__restrict dh, const T *__restrict dy,                   \\
                               const T *__restrict rzn, const T *__restrict gn, const T *__restrict hp,  \\
                               T *__restrict dg, T *__restrict da) {                                     \\
        for (Py_ssize_t j = 0; j < H; j++) {                                                             \\
            const T r = rzn[j], z = rzn[H + j], nj = rzn[2 * H + j];                                     \\
            const T d = dh[j] + dy[j];                                           /* 1. */                \\
            const T dan = d * ((T)1 - z) * ((T)1 - nj * nj);                     /* 2., 3. */            \\
            const T dz = d * (hp[j] - nj) * z * ((T)1 - z);                      /* 2., 4. */            \\
            const T dr = dan * gn[j] * r * ((T)1 - r);                           /* 3., 4. */            \\
            dg[j] = dr; dg[H + j] = dz; dg[2 * H + j] = dan * r;                                         \\
            da[j] = dr; da[H + j] = dz; da[2 * H + j] = dan;                                             \\
            dh[j] = d * z;                                                       /* 5., first term */    \\
        }                                                                                                \\
    }
    NT_GRU_ROW_BACKWARD(nt_gru_row_backward_f, float)
    NT_GRU_ROW_BACKWARD(nt_gru_row_backward_d, double)

    /* C (m, n) = A (m, kk) B (kk, n) [+ C], row-major, for the rows of one step (nt_gemm_rows_f/_d).
       BLAS packs both operands at every call, and for the few rows of a step against a large U (H, 3H)
       that copy costs about as much as the product (where it is used: _rows_gemm). Here B is read in place, row after row: a block of at most 8 rows
       of C times 3 vectors of columns (24 accumulators: AVX-512 has 32 vector registers) stays in registers
       while p runs over kk, and the panel of B it reads (kk x 3 vectors) stays in L1 for the next blocks of
       rows. The rows are split into blocks of equal size (10 = 5 + 5, not 8 + 2). Each entry is one sum over
       p in order, so the result does not depend on the blocking. */
    typedef float nt_v8f __attribute__((vector_size(32)));
    typedef float nt_v8fu __attribute__((vector_size(32), aligned(4), may_alias));
    typedef double nt_v4d __attribute__((vector_size(32)));
    typedef double nt_v4du __attribute__((vector_size(32), aligned(8), may_alias));
    #define NT_MR 8
    #define NT_NV 3
    #define NT_GEMM_ROWS(NAME, T, V, VU, L)                                                                \\
    static inline __attribute__((always_inline)) void NAME##_block(                                      \\
            const int MR, const int NV, Py_ssize_t kk, const T *__restrict a, Py_ssize_t lda,            \\
            const T *__restrict b, Py_ssize_t ldb, T *__restrict c, Py_ssize_t ldc, int add) {          \\
        V acc[NT_MR][NT_NV];                                                                             \\
        for (int r = 0; r < MR; r++)                                                                     \\
            for (int v = 0; v < NV; v++)                                                                 \\
                acc[r][v] = add ? (V)*(const VU *)(c + r * ldc + v * L) : (V){0};                        \\
        for (Py_ssize_t p = 0; p < kk; p++) {                                                            \\
            V bv[NT_NV];                                                                                 \\
            for (int v = 0; v < NV; v++) bv[v] = (V)*(const VU *)(b + p * ldb + v * L);                  \\
            for (int r = 0; r < MR; r++) {                                                               \\
                const V av = a[r * lda + p] - (V){0};                    /* broadcast: x - 0 is x */     \\
                for (int v = 0; v < NV; v++) acc[r][v] += av * bv[v];                                    \\
            }                                                                                            \\
        }                                                                                                \\
        for (int r = 0; r < MR; r++)                                                                     \\
            for (int v = 0; v < NV; v++) *(VU *)(c + r * ldc + v * L) = acc[r][v];                       \\
    }                                                                                                    \\
    static inline __attribute__((always_inline)) void NAME##_rows(                                       \\
            const int NV, Py_ssize_t m, Py_ssize_t kk, const T *a, Py_ssize_t lda, const T *b,           \\
            Py_ssize_t ldb, T *c, Py_ssize_t ldc, int add) {                                             \\
        const Py_ssize_t blocks = (m + NT_MR - 1) / NT_MR;                                               \\
        for (Py_ssize_t q = 0, i = 0; q < blocks; q++) {                                                 \\
            const Py_ssize_t mr = m / blocks + (q < m % blocks);         /* equal blocks of <= 8 rows */ \\
            const T *ai = a + i * lda;                                                                   \\
            T *ci = c + i * ldc;                                                                         \\
            switch (mr) {                                                                                \\
            case 8: NAME##_block(8, NV, kk, ai, lda, b, ldb, ci, ldc, add); break;                       \\
            case 7: NAME##_block(7, NV, kk, ai, lda, b, ldb, ci, ldc, add); break;                       \\
            case 6: NAME##_block(6, NV, kk, ai, lda, b, ldb, ci, ldc, add); break;                       \\
            case 5: NAME##_block(5, NV, kk, ai, lda, b, ldb, ci, ldc, add); break;                       \\
            case 4: NAME##_block(4, NV, kk, ai, lda, b, ldb, ci, ldc, add); break;                       \\
            case 3: NAME##_block(3, NV, kk, ai, lda, b, ldb, ci, ldc, add); break;                       \\
            case 2: NAME##_block(2, NV, kk, ai, lda, b, ldb, ci, ldc, add); break;                       \\
            default: NAME##_block(1, NV, kk, ai, lda, b, ldb, ci, ldc, add); break;                      \\
            }                                                                                            \\
            i += mr;                                                                                     \\
        }                                                                                                \\
    }                                                                                                    \\
    NT_CLONES static void NAME(Py_ssize_t m, Py_ssize_t n, Py_ssize_t kk, const T *a, Py_ssize_t lda,    \\
                               const T *b, Py_ssize_t ldb, T *c, Py_ssize_t ldc, int add) {             \\
        Py_ssize_t j = 0;                                                                                \\
        for (; j + NT_NV * L <= n; j += NT_NV * L) NAME##_rows(NT_NV, m, kk, a, lda, b + j, ldb, c + j, ldc, add); \\
        for (; j + L <= n; j += L) NAME##_rows(1, m, kk, a, lda, b + j, ldb, c + j, ldc, add);           \\
        for (; j < n; j++)                                            /* fewer than L columns left */    \\
            for (Py_ssize_t i = 0; i < m; i++) {                                                         \\
                T s = add ? c[i * ldc + j] : (T)0;                                                       \\
                for (Py_ssize_t p = 0; p < kk; p++) s += a[i * lda + p] * b[p * ldb + j];                \\
                c[i * ldc + j] = s;                                                                      \\
            }                                                                                            \\
    }
    NT_GEMM_ROWS(nt_gemm_rows_f, float, nt_v8f, nt_v8fu, 8)
    NT_GEMM_ROWS(nt_gemm_rows_d, double, nt_v4d, nt_v4du, 4)

    #if defined(__GNUC__) && !defined(__clang__)
    #pragma GCC pop_options
    #endif
    """
    void nt_gru_row_forward_f(Py_ssize_t H, const float *a, const float *bias, const float *g, const float *cn,
                              const float *hp, float *rzn, float *gn, float *h, float *y) noexcept nogil
    void nt_gru_row_forward_d(Py_ssize_t H, const double *a, const double *bias, const double *g,
                              const double *cn, const double *hp, double *rzn, double *gn, double *h,
                              double *y) noexcept nogil
    void nt_gru_row_backward_f(Py_ssize_t H, float *dh, const float *dy, const float *rzn, const float *gn,
                               const float *hp, float *dg, float *da) noexcept nogil
    void nt_gru_row_backward_d(Py_ssize_t H, double *dh, const double *dy, const double *rzn,
                               const double *gn, const double *hp, double *dg, double *da) noexcept nogil
    void nt_gemm_rows_f(Py_ssize_t m, Py_ssize_t n, Py_ssize_t kk, const float *a, Py_ssize_t lda,
                        const float *b, Py_ssize_t ldb, float *c, Py_ssize_t ldc, int add) noexcept nogil
    void nt_gemm_rows_d(Py_ssize_t m, Py_ssize_t n, Py_ssize_t kk, const double *a, Py_ssize_t lda,
                        const double *b, Py_ssize_t ldb, double *c, Py_ssize_t ldc, int add) noexcept nogil


cdef extern from "nt_transpose.h":
    void nt_transpose_f(const float *a, Py_ssize_t m, Py_ssize_t n, float *out) noexcept nogil
    void nt_transpose_d(const double *a, Py_ssize_t m, Py_ssize_t n, double *out) noexcept nogil


cdef inline void _gemm(char transa, int m, int n, int kk, floating *a, int lda, floating *b, int ldb,
                       floating beta, floating *c, int ldc) noexcept nogil:
    """Column-major BLAS ``C (m, n) = op(A) B + beta C`` (so row-major ``C^T = B^T op(A)^T``)."""
    cdef char transb = c'N'
    cdef floating one = 1
    if floating is float:
        sgemm(&transa, &transb, &m, &n, &kk, &one, a, &lda, b, &ldb, &beta, c, &ldc)
    else:
        dgemm(&transa, &transb, &m, &n, &kk, &one, a, &lda, b, &ldb, &beta, c, &ldc)


# Which products skip BLAS: those with a B of 128 KB or more (the word GRU's U, H = 200: 480 KB; its W,
# D = 100: 240 KB) and at most 128 rows. BLAS packs both operands at every call; for so large a B the copy
# costs about as much as the product of a few rows, and it crowds the original out of L2. Smaller B fit L2
# beside their copy, and OpenBLAS multiplies small products without packing anyway: BLAS is as fast or
# faster there. Measured per step (float32, Zen 4, OpenBLAS 0.3.31 SkylakeX kernels, one thread),
# forward/backward in microseconds:
#   H = 200, rows  4          10         32          65 (prediction, inputs step by step: forward only)
#   nt_gemm_rows   10/13      29/29      120/135     259
#   BLAS           10/17      106/108    153/165     334
#   H = 100, rows  4          10         32
#   nt_gemm_rows   4.9/8.1    11.8/20.7  31.6/58.8
#   BLAS           3.6/4.2    8.6/8.9    25.2/30.6
cdef Py_ssize_t own_max_rows = 128, own_min_bytes = 131072


def _set_own_gemm(Py_ssize_t max_rows, Py_ssize_t min_bytes):
    """Which products skip BLAS (at most ``max_rows`` rows, B of ``min_bytes`` or more); returns the old
    pair. For tests and benchmarks."""
    global own_max_rows, own_min_bytes
    old = own_max_rows, own_min_bytes
    own_max_rows, own_min_bytes = max_rows, min_bytes
    return old


cdef inline bint _own(Py_ssize_t m, Py_ssize_t n, Py_ssize_t kk, Py_ssize_t itemsize) noexcept nogil:
    return m <= own_max_rows and kk * n * itemsize >= own_min_bytes


cdef inline void _rows_gemm(Py_ssize_t m, Py_ssize_t n, Py_ssize_t kk, const floating *a, Py_ssize_t lda,
                            const floating *b, Py_ssize_t ldb, bint add, floating *c, Py_ssize_t ldc
                            ) noexcept nogil:
    """Row-major ``C (m, n) = A (m, kk) B (kk, n)``, plus ``C`` when ``add``: nt_gemm_rows or BLAS (see above)."""
    if _own(m, n, kk, sizeof(floating)):
        if floating is float:
            nt_gemm_rows_f(m, n, kk, a, lda, b, ldb, c, ldc, add)
        else:
            nt_gemm_rows_d(m, n, kk, a, lda, b, ldb, c, ldc, add)
    else:                                                   # column-major C^T (n, m) = B^T A^T
        _gemm(c'N', n, m, kk, <floating *> b, ldb, <floating *> a, lda, 1 if add else 0, c, ldc)


cdef inline void _transpose(const floating *a, Py_ssize_t m, Py_ssize_t n, floating *out) noexcept nogil:
    """``out (n, m) = a (m, n)^T``, both row-major."""
    if floating is float:
        nt_transpose_f(a, m, n, out)
    else:
        nt_transpose_d(a, m, n, out)


cdef inline Py_ssize_t _position(bint reverse, long long length, Py_ssize_t t) noexcept nogil:
    return length - 1 - t if reverse else t


# Rows of one block: prediction runs all steps of a block of sorted rows before the next block (the rows of
# a GRU never meet), so that a step's scratch and states stay in L2 however large the batch. The character
# BiGRU reads ~1000-3000 words per batch when tagging: unblocked, each step streamed (k, 3H) scratch through
# memory (1.2-1.9 characters/us against 5 for the same rows in blocks of 512). Blocks hold 96 KB of
# (rows, 3H) scratch, and at least 128 rows so that the products keep their size. A U that BLAS packs at every
# call (between 32 KB and the size where nt_gemm_rows takes over) is packed once per block: no blocks there.
# Prediction, float32, one thread, ms (OpenBLAS SkylakeX kernels; D, H, B, T):
#                     one block   blocks of 128   (rows of the default)
#   25, 25, 2000, 12     3.66       2.98           327: 3.04
#   100, 100, 256, 30   11.26      12.07           (BLAS packs U: one block)
#   100, 200, 256, 30   23.93      22.27           128
# Training (caches kept for backward) runs one block: BLAS may round a row differently in a product of
# another size, and training must stay bit for bit what it was (its batches are small anyway).
cdef Py_ssize_t block_bytes = 98304, block_min_rows = 128, packed_u_bytes = 32768


cdef inline Py_ssize_t _block_rows(Py_ssize_t B, Py_ssize_t H, Py_ssize_t itemsize) noexcept nogil:
    cdef Py_ssize_t rows = block_bytes // (3 * H * itemsize)
    if rows < block_min_rows:
        rows = block_min_rows
    if H * 3 * H * itemsize > packed_u_bytes and not _own(rows, 3 * H, H, itemsize):
        return B
    return rows


def _set_block(Py_ssize_t nbytes, Py_ssize_t min_rows):
    """Scratch bytes and least rows of a block of rows (see above); returns the old pair. For tests and
    benchmarks."""
    global block_bytes, block_min_rows
    old = block_bytes, block_min_rows
    block_bytes, block_min_rows = nbytes, min_rows
    return old


cdef Py_ssize_t[::1] _step_offsets(const long long[::1] lengths):
    """``o_t`` for t = 0 .. T_real: the packed row of step t's row 0 (``o_{T_real} = N``)."""
    cdef Py_ssize_t B = lengths.shape[0], T_real = lengths[0] if B else 0, t, k = B
    cdef Py_ssize_t[::1] offsets = np.empty(T_real + 1, dtype=np.intp)
    offsets[0] = 0
    for t in range(T_real):
        while k > 0 and lengths[k - 1] <= t:
            k -= 1
        offsets[t + 1] = offsets[t] + k
    return offsets


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.initializedcheck(False)
def gru_scan_forward(A, const floating[:, :, ::1] X, const floating[:, ::1] W, const floating[::1] bias,
                     const floating[:, ::1] U, const floating[::1] c_n, const long long[::1] lengths,
                     const long long[::1] order, bint reverse, floating[:, :, ::1] S, floating[:, :, ::1] RZN,
                     floating[:, :, ::1] Gn, floating[:, ::1] G, floating[:, ::1] At, floating[:, ::1] Xt,
                     Y, P=None, ids=None):
    """All steps of one GRU direction (layouts in the comment above this function).

    With ``P`` (V, 3H) and ``ids`` (T, B) int64 (``A`` None), the input product at a position is the row
    ``P[ids[position, column]]``: inputs that are embedding rows, ``P`` = (embeddings W), read in place.

    ``A`` (N, 3H): the input products ``x W`` of the real positions (packed), or None to compute them step
    by step, from ``X`` (T, B, D) and ``W`` (D, 3H) (no (N, 3H) array; better for large batches). ``bias`` (3H,) = ``b + [c_r | c_z | 0]``; ``U`` (H, 3H);
    ``c_n`` (H,); ``S`` (T_real + 1, B, H) with ``S[0]`` holding h0 in sorted row order. Writes ``S[1:]``,
    the caches ``RZN`` (T_real, B, 3H) = [r | z | n] and ``Gn`` (T_real, B, H), and ``Y`` (T, B, H) (batch
    layout, last axis contiguous), or no outputs when ``Y`` is None (only the states are wanted). ``RZN`` and ``Gn`` with one step only, (1, B, 3H) and (1, B, H), are
    scratch overwritten at every step: prediction, when no backward pass will read them. Scratch: ``G`` (B, 3H) for h_{t-1} U, ``At`` (B, 3H) and ``Xt`` (B, D)
    for the step's x W and gathered inputs. T_real = lengths[0]. Rows run in blocks (see ``block_bytes``).
    """
    cdef Py_ssize_t T = X.shape[0], B = X.shape[1], D = X.shape[2], H = U.shape[0]
    cdef Py_ssize_t T_real = lengths[0] if B else 0
    cdef Py_ssize_t t, tc, i, p, col, k, r0, r1, m
    cdef bint lookup = P is not None
    cdef bint per_step = A is None and not lookup
    cdef bint has_y = Y is not None
    cdef const floating[:, ::1] Pv = P if lookup else None          # typed here: None must not pick the dtype
    cdef const long long[:, ::1] idv = ids if lookup else None
    cdef bint cache = RZN.shape[0] == T_real
    cdef const floating[:, ::1] Av = A if A is not None else None   # typed here: a None A must not pick the dtype
    cdef floating[:, :, :] Yv = Y if has_y else None                # likewise for a None Y
    cdef floating[::1] y_scratch = np.empty(H, dtype=np.float32 if floating is float else np.float64)
    cdef floating *y
    cdef bint identity = True                                        # sorted rows == batch columns
    cdef const floating *xrows
    cdef const floating *a
    cdef Py_ssize_t[::1] offsets = _step_offsets(lengths)
    cdef Py_ssize_t N = offsets[T_real]
    cdef Py_ssize_t blk = B if cache or B == 0 else _block_rows(B, H, sizeof(floating))   # training: one block
    for i in range(B):
        identity = identity and order[i] == i
    if lookup:
        if A is not None or idv.shape[0] != T or idv.shape[1] != B or Pv.shape[1] != 3 * H:
            raise ValueError(f"P must be (V, {3 * H}) and ids ({T}, {B}), without A")
        if idv.shape[0] and (np.min(ids) < 0 or np.max(ids) >= Pv.shape[0]):
            raise ValueError(f"ids must lie in 0..{Pv.shape[0] - 1}")
    elif not per_step and Av.shape[0] != N:
        raise ValueError(f"A must hold the {N} real positions (packed), got {Av.shape[0]} rows")
    with nogil:
        r0 = 0
        while r0 < B:                                                # a block of sorted rows, all its steps
            r1 = r0 + blk if r0 + blk < B else B
            k = r1
            for t in range(lengths[r0]):
                while k > r0 and lengths[k - 1] <= t:
                    k -= 1
                m = k - r0                                           # real rows r0 .. k - 1 of step t
                _rows_gemm(m, 3 * H, H, &S[t, r0, 0], H, &U[0, 0], 3 * H, False, &G[0, 0], 3 * H)   # (m, 3H) h U
                tc = t if cache else 0
                if per_step:                                         # (m, 3H) x W of this step's real rows
                    if identity and not reverse:
                        xrows = &X[t, r0, 0]
                    else:
                        for i in range(r0, k):
                            memcpy(&Xt[i - r0, 0], &X[_position(reverse, lengths[i], t), order[i], 0],
                                   D * sizeof(floating))
                        xrows = &Xt[0, 0]
                    _rows_gemm(m, 3 * H, D, xrows, D, &W[0, 0], 3 * H, False, &At[0, 0], 3 * H)      # (m, 3H)
                for i in range(r0, k):
                    col = order[i]
                    p = _position(reverse, lengths[i], t)
                    if lookup:
                        a = &Pv[idv[p, col], 0]
                    else:
                        a = &At[i - r0, 0] if per_step else &Av[offsets[t] + i, 0]
                    y = &Yv[p, col, 0] if has_y else &y_scratch[0]
                    if floating is float:
                        nt_gru_row_forward_f(H, a, &bias[0], &G[i - r0, 0], &c_n[0], &S[t, i, 0],
                                             &RZN[tc, i, 0], &Gn[tc, i, 0], &S[t + 1, i, 0], y)
                    else:
                        nt_gru_row_forward_d(H, a, &bias[0], &G[i - r0, 0], &c_n[0], &S[t, i, 0],
                                             &RZN[tc, i, 0], &Gn[tc, i, 0], &S[t + 1, i, 0], y)
                if k < r1:
                    memset(&S[t + 1, k, 0], 0, (r1 - k) * H * sizeof(floating))
            for t in range(lengths[r0], T_real):                     # the block ended before the batch
                memset(&S[t + 1, r0, 0], 0, (r1 - r0) * H * sizeof(floating))
            r0 = r1
        if has_y:
            for i in range(B):                                       # output 0 at padding
                for p in range(lengths[i], T):
                    memset(&Yv[p, order[i], 0], 0, H * sizeof(floating))


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.initializedcheck(False)
def gru_scan_backward(dY, const floating[:, ::1] U, const floating[:, :, ::1] RZN,
                      const floating[:, :, ::1] Gn, const floating[:, :, ::1] S, const long long[::1] lengths,
                      const long long[::1] order, bint reverse, floating[:, ::1] dG,
                      floating[:, ::1] dA, floating[:, ::1] Sp, floating[:, ::1] dh, floating[:, ::1] UT):
    """Backward through all steps of one GRU direction (numbered steps of :mod:`nertag.net.gru`).

    ``dY`` (T, B, H) batch layout (last axis contiguous), or None for no output gradient; ``RZN``, ``Gn``,
    ``S`` the forward caches. ``dh`` (B, H), sorted rows, holds dL/dh_last on entry (row i joins at its last
    step, so no other bookkeeping is needed) and dL/dh0 on return. Writes, packed (N rows, real only):
    ``dG`` (N, 3H) = dL/dg_t, ``dA`` (N, 3H) = dL/da_t and ``Sp`` (N, H) = h_{t-1}, the states the step's
    recurrent product read (so that dU = Sp^T dG is one GEMM). Scratch: ``UT`` (3H, H), where U^T is
    written when step 5 skips BLAS (nt_gemm_rows reads the rows of its B).
    """
    cdef Py_ssize_t B = S.shape[1], H = U.shape[0]
    cdef Py_ssize_t T_real = lengths[0] if B else 0
    cdef Py_ssize_t t, i, p, col, k = 0, o = dG.shape[0]             # o: packed row of step t's row 0
    cdef bint has_dy = dY is not None
    cdef const floating[:, :, :] dYv = dY if has_dy else None   # typed here: a None dY must not pick the dtype
    cdef floating[::1] zero = np.zeros(H, dtype=np.float32 if floating is float else np.float64)
    cdef const floating *dy
    cdef Py_ssize_t N = 0
    for i in range(B):
        N += lengths[i]
    if dG.shape[0] != N or dA.shape[0] != N or Sp.shape[0] != N:
        raise ValueError(f"dG, dA and Sp must hold the {N} real positions (packed), got "
                         f"{dG.shape[0]}, {dA.shape[0]} and {Sp.shape[0]} rows")
    if UT.shape[0] != 3 * H or UT.shape[1] != H:
        raise ValueError(f"UT must have shape ({3 * H}, {H}), got ({UT.shape[0]}, {UT.shape[1]})")
    cdef bint own = _own(1, H, 3 * H, sizeof(floating))                 # any step's dg U^T skips BLAS
    with nogil:
        if own:
            _transpose(&U[0, 0], H, 3 * H, &UT[0, 0])
        for t in range(T_real - 1, -1, -1):
            while k < B and lengths[k] > t:
                k += 1
            o -= k
            memcpy(&Sp[o, 0], &S[t, 0, 0], k * H * sizeof(floating))      # h_{t-1} of the k real rows
            for i in range(k):
                col = order[i]
                p = _position(reverse, lengths[i], t)
                dy = &dYv[p, col, 0] if has_dy else &zero[0]
                if floating is float:
                    nt_gru_row_backward_f(H, &dh[i, 0], dy, &RZN[t, i, 0], &Gn[t, i, 0], &S[t, i, 0],
                                          &dG[o + i, 0], &dA[o + i, 0])
                else:
                    nt_gru_row_backward_d(H, &dh[i, 0], dy, &RZN[t, i, 0], &Gn[t, i, 0], &S[t, i, 0],
                                          &dG[o + i, 0], &dA[o + i, 0])
            if own and _own(k, H, 3 * H, sizeof(floating)):
                _rows_gemm(k, H, 3 * H, &dG[o, 0], 3 * H, &UT[0, 0], H, True, &dh[0, 0], H)  # 5. dh += dg U^T
            else:
                _gemm(c'T', H, k, 3 * H, <floating *> &U[0, 0], 3 * H, &dG[o, 0], 3 * H, 1, &dh[0, 0], H)
