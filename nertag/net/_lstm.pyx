# cython: language_level=3
"""Cython kernels of the LSTM: whole-sequence scans of one direction.

``lstm_scan_forward`` / ``lstm_scan_backward`` run the whole time loop of one LSTM direction in C: per step
the recurrent product of the real rows through BLAS (SciPy's ``cython_blas``; cut into gate blocks where
that spares OpenBLAS its operand packing, see ``_pieces``), then one fused pass over those rows for the
gates and the cell, with no Python in the loop, no per-step allocation and no gather for reversed reading
or batch order. Their NumPy twins, same names and signatures, are in
:mod:`nertag.net.lstm_numpy`. Notation and the numbered backward steps are those of :mod:`nertag.net.lstm`;
the layouts (sorted rows, batch / step / packed layouts) those of ``_recurrent.pyx``, the GRU's scans:

  lengths (B,)  sorted in decreasing order;  order (B,) the batch column of sorted row i
  k_t           #{i : lengths[i] > t}, the real rows of step t, a prefix of the sorted rows
  p(i, t)       position row i reads and writes at step t: t, or lengths[i] - 1 - t when reverse
  batch layout  (T, B, .) indexed [position, column]: X, Y, dY (Y and dY: last axis contiguous)
  step layout   [step, sorted row]: S, C (T_real + 1, B, H) with S[t + 1] = h_t, C[t + 1] = c_t;
                the caches IFOG (T_real, B, 4H) = [i | f | o | g] and Tc (T_real, B, H) = tanh(c_t)
  packed        (N, .), N = sum(lengths), the real rows of the step layout step after step (row o_t + i,
                o_t = k_0 + .. + k_{t-1}; Padded.step_rows lists their positions): A = x W, dZ, Sp

float32 computes its sigmoid and tanh from one exponential of its own (``nt_lstm_expf`` below: no calls,
so the row loops vectorise; cloned for AVX-512 and AVX2 where GCC supports it); float64 uses libm.
"""
cimport cython
from cython cimport floating

import numpy as np

from libc.string cimport memcpy, memset
from scipy.linalg.cython_blas cimport dgemm, sgemm


cdef extern from *:
    """
    #include <math.h>
    #include <stdint.h>
    #include <string.h>
    #if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
    #define NT_LSTM_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
    #else
    #define NT_LSTM_CLONES
    #endif

    /* exp(x) for float32 in straight-line code (it vectorises): clamp to [-80, 80] (no overflow, no
       subnormal results, so 1 / (1 + exp) stays finite and normal), split x = n ln 2 + r with |r| <= ln 2 / 2,
       e^r by its Taylor polynomial to degree 7 (truncation < 1e-8 relative), times 2^n built in the exponent
       bits; measured relative error below 1e-7 over [-80, 80]. Rounding n = x / ln 2 adds 1.5 * 2^23 (exact
       in float32 for |n| < 2^22: no fast-math, so the compiler keeps the order); n ln 2 is taken in two
       parts, the first with few enough bits that n times it is exact. NaN propagates. */
    static inline float nt_lstm_expf(float x) {
        x = x > 80.0f ? 80.0f : x;
        x = x < -80.0f ? -80.0f : x;
        const float shifter = 12582912.0f;                      /* 1.5 * 2^23 */
        const float t = x * 1.44269504088896341f + shifter;
        const float n = t - shifter;
        const float r = (x - n * 0.693145751953125f) - n * 1.42860682030941723e-06f;   /* ln 2, hi + lo */
        float p = 1.98412698412698413e-04f;                     /* 1/7! */
        p = p * r + 1.38888888888888889e-03f;                   /* 1/6! */
        p = p * r + 8.33333333333333333e-03f;                   /* 1/5! */
        p = p * r + 4.16666666666666667e-02f;                   /* 1/4! */
        p = p * r + 1.66666666666666667e-01f;                   /* 1/3! */
        p = p * r + 0.5f;
        p = p * r + 1.0f;
        p = p * r + 1.0f;
        int32_t tb, nb;
        memcpy(&tb, &t, 4);
        const int32_t shifter_bits = 0x4B400000;                /* the bits of 1.5 * 2^23 */
        nb = (tb - shifter_bits + 127) << 23;                   /* 2^n, n in [-116, 116] */
        float scale;
        memcpy(&scale, &nb, 4);
        return p * scale;
    }
    /* tanh(x) = 1 - 2 / (1 + e^{2x}): absolute error about 1e-7 near 0, exactly +-1 from |x| = 9 on. */
    static inline float nt_lstm_tanhf(float x) { return 1.0f - 2.0f / (1.0f + nt_lstm_expf(2.0f * x)); }
    /* sigmoid(x) = 1 - 1 / (1 + e^x) (= (1 + tanh(x / 2)) / 2, as the NumPy twin computes it): exactly 0 or
       1 from |x| = 17 on, so saturated gates pass exactly zero gradient (no subnormal products in dW and dX
       downstream), where 1 / (1 + e^-x) would go on to 1e-35. */
    static inline float nt_lstm_sigmoidf(float x) { return 1.0f - 1.0f / (1.0f + nt_lstm_expf(x)); }
    static inline double nt_lstm_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

    /* The row loops run over j in two loops the compiler vectorises: the first over a multiple of
       NT_LSTM_BLOCK entries, the second over the last NT_LSTM_BLOCK entries, moved back to end at H (so it
       overlaps the first): both run whole vectors only and the vectorised loops' scalar tails never run
       (for H = 100 the 4 entries past 6 x 16 would cost as much as 4 vectors of 16). Recomputing the
       overlap writes the same values again, so nothing a loop writes may be read by it: the gates go to
       ifog (not back over g), the new cell gradient to dc_out (not back over dc). */
    #define NT_LSTM_BLOCK 16
    #define NT_LSTM_ROW_LOOP(H, ...)                                                                      \\
        {                                                                                                \\
            const Py_ssize_t whole = (H) < NT_LSTM_BLOCK ? (H) : (H) - (H) % NT_LSTM_BLOCK;              \\
            for (Py_ssize_t j = 0; j < whole; j++) __VA_ARGS__                                           \\
            if (whole < (H))                                                                             \\
                for (Py_ssize_t j = (H) - NT_LSTM_BLOCK; j < (H); j++) __VA_ARGS__                       \\
        }

    /* One real row of a forward step: g (4H) = h_{t-1} U, a (4H) = x_t W, bias (4H), cp (H) = c_{t-1};
       writes the gates ifog (4H) = [i | f | o | g], c (H), tc = tanh(c) (H), h (H) and y (H). */
    #define NT_LSTM_ROW_FORWARD(NAME, T, TANH, SIGMOID)                                                   \\
    NT_LSTM_CLONES static void NAME(Py_ssize_t H, const T *__restrict g, const T *__restrict a,          \\
                                    const T *__restrict bias, const T *__restrict cp,                    \\
                                    T *__restrict ifog, T *__restrict c, T *__restrict tc,               \\
                                    T *__restrict h, T *__restrict y) {                                  \\
        NT_LSTM_ROW_LOOP(H, {                                                                            \\
            const T i = SIGMOID(g[j] + a[j] + bias[j]);                                                  \\
            const T f = SIGMOID(g[H + j] + a[H + j] + bias[H + j]);                                      \\
            const T o = SIGMOID(g[2 * H + j] + a[2 * H + j] + bias[2 * H + j]);                          \\
            const T n = TANH(g[3 * H + j] + a[3 * H + j] + bias[3 * H + j]);                             \\
            const T cj = f * cp[j] + i * n;                                                              \\
            const T tcj = TANH(cj);                                                                      \\
            ifog[j] = i; ifog[H + j] = f; ifog[2 * H + j] = o; ifog[3 * H + j] = n;                      \\
            c[j] = cj; tc[j] = tcj; h[j] = o * tcj; y[j] = o * tcj;                                      \\
        })                                                                                               \\
    }
    NT_LSTM_ROW_FORWARD(nt_lstm_row_forward_f, float, nt_lstm_tanhf, nt_lstm_sigmoidf)
    NT_LSTM_ROW_FORWARD(nt_lstm_row_forward_d, double, tanh, nt_lstm_sigmoid)

    /* One real row of backward steps 1-4 and the cell half of 5 (numbered as in nertag.net.lstm).
       dh (H): dL/dh_t from later steps (the caller then writes dh = dz U^T); dc (H): dL/dc_t from later
       steps; dy (H); ifog (4H), tc (H), cp (H) = c_{t-1}: the forward cache; writes dz (4H) and
       dc_out (H) = dL/dc_{t-1}. */
    #define NT_LSTM_ROW_BACKWARD(NAME, T)                                                                 \\
    NT_LSTM_CLONES static void NAME(Py_ssize_t H, const T *__restrict dh, const T *__restrict dc,        \\
                                    const T *__restrict dy, const T *__restrict ifog,                    \\
                                    const T *__restrict tc, const T *__restrict cp, T *__restrict dz,    \\
                                    T *__restrict dc_out) {                                              \\
        NT_LSTM_ROW_LOOP(H, {                                                                            \\
            const T i = ifog[j], f = ifog[H + j], o = ifog[2 * H + j], n = ifog[3 * H + j];              \\
            const T d = dh[j] + dy[j];                                           /* 1. */                \\
            const T tcj = tc[j];                                                                         \\
            const T dcj = dc[j] + d * o * ((T)1 - tcj * tcj);                    /* 2. */                \\
            dz[j] = dcj * n * i * ((T)1 - i);                                    /* 3., 4. */            \\
            dz[H + j] = dcj * cp[j] * f * ((T)1 - f);                                                    \\
            dz[2 * H + j] = d * tcj * o * ((T)1 - o);                                                    \\
            dz[3 * H + j] = dcj * i * ((T)1 - n * n);                                                    \\
            dc_out[j] = dcj * f;                                                 /* 5., to c_{t-1} */    \\
        })                                                                                               \\
    }
    NT_LSTM_ROW_BACKWARD(nt_lstm_row_backward_f, float)
    NT_LSTM_ROW_BACKWARD(nt_lstm_row_backward_d, double)

    """
    void nt_lstm_row_forward_f(Py_ssize_t H, const float *g, const float *a, const float *bias, const float *cp,
                               float *ifog, float *c, float *tc, float *h, float *y) noexcept nogil
    void nt_lstm_row_forward_d(Py_ssize_t H, const double *g, const double *a, const double *bias,
                               const double *cp, double *ifog, double *c, double *tc, double *h,
                               double *y) noexcept nogil
    void nt_lstm_row_backward_f(Py_ssize_t H, const float *dh, const float *dc, const float *dy,
                                const float *ifog, const float *tc, const float *cp, float *dz,
                                float *dc_out) noexcept nogil
    void nt_lstm_row_backward_d(Py_ssize_t H, const double *dh, const double *dc, const double *dy,
                                const double *ifog, const double *tc, const double *cp, double *dz,
                                double *dc_out) noexcept nogil
    float nt_lstm_expf(float x) noexcept nogil


cdef extern from "nt_transpose.h":
    void nt_transpose_f(const float *a, Py_ssize_t m, Py_ssize_t n, float *out) noexcept nogil
    void nt_transpose_d(const double *a, Py_ssize_t m, Py_ssize_t n, double *out) noexcept nogil


def _expf(float x):
    """The float32 exponential of the row loops, for its accuracy test."""
    return nt_lstm_expf(x)


cdef inline void _product(bint trans_b, int m, int n, int kk, const floating *a, int lda,
                          const floating *b, int ldb, floating beta, floating *c, int ldc) noexcept nogil:
    """Row-major ``C (m, n) = A (m, kk) op(B) + beta C``, ``op(B)`` = B (kk, n), or B^T for a B (n, kk).

    BLAS is column-major, where a row-major matrix reads as its transpose: ``C^T = op(B)^T A^T``.
    """
    cdef char ta = c'T' if trans_b else c'N'
    cdef char tb = c'N'
    cdef floating one = 1
    if floating is float:
        sgemm(&ta, &tb, &n, &m, &kk, &one, <float *> b, &ldb, <float *> a, &lda, &beta, c, &ldc)
    else:
        dgemm(&ta, &tb, &n, &m, &kk, &one, <double *> b, &ldb, <double *> a, &lda, &beta, c, &ldc)


# OpenBLAS multiplies a product of at most 100^3 multiply-adds (m n k) without packing its operands, with
# its "small matrix" kernels (SkylakeX builds); above that it copies both operands into packed panels at every
# call, which for the few rows of one step against U (H, 4H) costs about half the product again (H = 100,
# 32 rows: 1.28e6). The products of a step are therefore cut into 2 or 4 products of whole gate blocks
# (columns of U, and of W when x_t W is computed per step; rows of U^T backwards) when that brings each
# under the limit; beyond 4 pieces the packing is paid per piece anyway, and the product is left whole.
# Uncut, forward and backward of one direction took 1.17x as long at T = 30, B = 32, D = H = 100 (float32,
# one thread, OpenBLAS 0.3.30 SkylakeX, a busy machine: ``scripts/bench_rnn.py --compare``, the row "LSTM
# uncut products"). Other BLAS builds see the same total work either way.
cdef double small_product = 1e6


def _set_small_product(double max_multiply_adds):
    """Cut a step's product into gate blocks while a piece has more than ``max_multiply_adds`` (0: never);
    returns the old limit. For tests and benchmarks."""
    global small_product
    old = small_product
    small_product = max_multiply_adds
    return old


cdef inline int _pieces(Py_ssize_t m, Py_ssize_t n, Py_ssize_t kk) noexcept nogil:
    """Into how many gate blocks (1, 2 or 4) to cut a product of ``m n kk`` multiply-adds."""
    cdef double work = <double> m * n * kk
    if small_product <= 0 or work <= small_product:
        return 1
    if work <= 2 * small_product:
        return 2
    if work <= 4 * small_product:
        return 4
    return 1


cdef inline void _step_product(Py_ssize_t k, Py_ssize_t n, Py_ssize_t H, const floating *s, const floating *u,
                               floating *z) noexcept nogil:
    """``z (k, 4H) = s (k, n) U (n, 4H)`` (U: the recurrent or the input weights), in 1, 2 or 4 products of
    whole gate blocks (see above)."""
    cdef int q, pieces = _pieces(k, 4 * H, n)
    cdef Py_ssize_t w = 4 * H // pieces
    for q in range(pieces):
        _product(False, k, w, n, s, n, u + q * w, 4 * H, 0, z + q * w, 4 * H)


cdef inline void _step_product_back(Py_ssize_t k, Py_ssize_t H, const floating *dz, const floating *ut,
                                    floating *dh) noexcept nogil:
    """``dh (k, H) = dz (k, 4H) U^T``, from ``ut`` = U^T (4H, H): the sum of 1, 2 or 4 products over whole gate
    blocks (see above). With U^T itself, not U read transposed: OpenBLAS takes its small kernels for a
    transposed operand only up to 1200 entries of C (as m n, 32 x 100 is 3200), and packs otherwise."""
    cdef int q, pieces = _pieces(k, H, 4 * H)
    cdef Py_ssize_t w = 4 * H // pieces
    for q in range(pieces):
        _product(False, k, H, w, dz + q * w, 4 * H, ut + q * w * H, H, 1 if q else 0, dh, H)


cdef inline void _transpose(const floating *a, Py_ssize_t m, Py_ssize_t n, floating *out) noexcept nogil:
    """``out (n, m) = a (m, n)^T``, both row-major (once per backward call)."""
    if floating is float:
        nt_transpose_f(a, m, n, out)
    else:
        nt_transpose_d(a, m, n, out)


cdef inline Py_ssize_t _position(bint reverse, long long length, Py_ssize_t t) noexcept nogil:
    return length - 1 - t if reverse else t


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.initializedcheck(False)
def lstm_scan_forward(A, const floating[:, :, ::1] X, const floating[:, ::1] W, const floating[::1] bias,
                      const floating[:, ::1] U, const long long[::1] lengths, const long long[::1] order,
                      bint reverse, floating[:, :, ::1] S, floating[:, :, ::1] C, floating[:, :, ::1] IFOG,
                      floating[:, :, ::1] Tc, floating[:, ::1] G, floating[:, ::1] At, floating[:, ::1] Xt, Y,
                      P=None, ids=None):
    """All steps of one LSTM direction (layouts in the module docstring).

    ``A`` (N, 4H): the input products ``x W`` of the real positions (packed, without bias), or None to
    compute them step by step from ``X`` (T, B, D) and ``W`` (D, 4H) into the scratch ``At`` (B, 4H), the
    step's inputs gathered into ``Xt`` (B, D) when they are not already contiguous rows. ``G`` (B, 4H) is
    scratch for the step's h_{t-1} U. ``bias`` (4H,);
    ``U`` (H, 4H); ``S`` (T_real + 1, B, H) with ``S[0]`` holding h0 in sorted row order. Writes ``S[1:]``,
    ``C`` (T_real + 1, B, H) (``C[t + 1] = c_t``, ``C[0] = 0``), the caches ``IFOG`` (T_real, B, 4H) and
    ``Tc`` (T_real, B, H), and ``Y`` (T, B, H) (batch layout, 0 at padding), or nothing when ``Y`` is None
    (only the states are wanted: a row's output goes to a scratch row). Padded rows of ``S`` and ``C``
    are written 0, those of the caches are left as they were. With ``IFOG`` (1, B, 4H), ``Tc`` (1, B, H)
    and ``C`` (2, B, H) the caches are scratch overwritten at every step (prediction): ``c_t`` then lives in
    ``C[(t + 1) % 2]``. With ``P`` (V, 4H) and ``ids`` (T, B) int64 (``A`` None), the input product at a
    position is the row ``P[ids[position, column]]``: inputs that are embedding rows, ``P`` = (embeddings W),
    read in place (``X`` is then (T, B, 0)).
    """
    cdef Py_ssize_t T = X.shape[0], B = X.shape[1], D = X.shape[2], H = U.shape[0]
    cdef Py_ssize_t T_real = lengths[0] if B else 0
    cdef Py_ssize_t t, tc, cprev, cnext, i, p, col, k = B, o = 0      # o: packed row of step t's row 0
    cdef bint lookup = P is not None
    cdef bint per_step = A is None and not lookup
    cdef const floating[:, ::1] Pv = P if lookup else None          # typed here: None must not pick the dtype
    cdef const long long[:, ::1] idv = ids if lookup else None
    cdef bint cache = IFOG.shape[0] == T_real
    cdef const floating[:, ::1] Av = A if A is not None else None   # typed here: a None A must not pick the dtype
    cdef bint identity = True                                       # sorted rows == batch columns
    cdef const floating *xrows
    cdef const floating *a
    cdef bint has_y = Y is not None
    cdef floating[:, :, :] Yv = Y if has_y else None                # typed here: a None Y must not pick the dtype
    cdef floating[::1] y_scratch = np.empty(H, dtype=np.float32 if floating is float else np.float64)
    cdef floating *y
    cdef Py_ssize_t N = 0
    for i in range(B):
        identity = identity and order[i] == i
        N += lengths[i]
    if lookup:
        if A is not None or idv.shape[0] != T or idv.shape[1] != B or Pv.shape[1] != 4 * H:
            raise ValueError(f"P must be (V, {4 * H}) and ids ({T}, {B}), without A")
        if idv.shape[0] and (np.min(ids) < 0 or np.max(ids) >= Pv.shape[0]):
            raise ValueError(f"ids must lie in 0..{Pv.shape[0] - 1}")
    elif not per_step and Av.shape[0] != N:
        raise ValueError(f"A must hold the {N} real positions (packed), got {Av.shape[0]} rows")
    if IFOG.shape[0] != Tc.shape[0] or C.shape[0] != (T_real + 1 if cache else 2):
        raise ValueError(f"IFOG, Tc and C must hold {T_real}, {T_real} and {T_real + 1} steps (or 1, 1 and 2 "
                         f"for prediction), got {IFOG.shape[0]}, {Tc.shape[0]} and {C.shape[0]}")
    with nogil:
        memset(&C[0, 0, 0], 0, B * H * sizeof(floating))                # c_{-1} = 0
        for t in range(T_real):
            while k > 0 and lengths[k - 1] <= t:
                k -= 1
            tc = t if cache else 0
            cprev, cnext = (t, t + 1) if cache else (t % 2, (t + 1) % 2)
            _step_product(k, H, H, &S[t, 0, 0], &U[0, 0], &G[0, 0])                                  # h U
            if per_step:                                                # (k, 4H) x W of this step's real rows
                if identity and not reverse:
                    xrows = &X[t, 0, 0]
                else:
                    for i in range(k):
                        memcpy(&Xt[i, 0], &X[_position(reverse, lengths[i], t), order[i], 0], D * sizeof(floating))
                    xrows = &Xt[0, 0]
                _step_product(k, D, H, xrows, &W[0, 0], &At[0, 0])
            for i in range(k):
                col = order[i]
                p = _position(reverse, lengths[i], t)
                if lookup:
                    a = &Pv[idv[p, col], 0]
                elif per_step:
                    a = &At[i, 0]
                else:
                    a = &Av[o + i, 0]
                if has_y:
                    y = &Yv[p, col, 0]
                else:
                    y = &y_scratch[0]
                if floating is float:
                    nt_lstm_row_forward_f(H, &G[i, 0], a, &bias[0], &C[cprev, i, 0], &IFOG[tc, i, 0],
                                          &C[cnext, i, 0], &Tc[tc, i, 0], &S[t + 1, i, 0], y)
                else:
                    nt_lstm_row_forward_d(H, &G[i, 0], a, &bias[0], &C[cprev, i, 0], &IFOG[tc, i, 0],
                                          &C[cnext, i, 0], &Tc[tc, i, 0], &S[t + 1, i, 0], y)
            if k < B:
                memset(&S[t + 1, k, 0], 0, (B - k) * H * sizeof(floating))
                memset(&C[cnext, k, 0], 0, (B - k) * H * sizeof(floating))
            o += k
        if has_y:
            for i in range(B):                                          # output 0 at padding
                for p in range(lengths[i], T):
                    memset(&Yv[p, order[i], 0], 0, H * sizeof(floating))


@cython.boundscheck(False)
@cython.wraparound(False)
@cython.initializedcheck(False)
def lstm_scan_backward(dY, const floating[:, ::1] U, const floating[:, :, ::1] IFOG,
                       const floating[:, :, ::1] Tc, const floating[:, :, ::1] C, const floating[:, :, ::1] S,
                       const long long[::1] lengths, const long long[::1] order, bint reverse,
                       floating[:, ::1] dZ, floating[:, ::1] Sp, floating[:, ::1] dh, floating[:, :, ::1] dc,
                       floating[:, ::1] UT):
    """Backward through all steps of one LSTM direction (numbered steps of :mod:`nertag.net.lstm`).

    ``dY`` (T, B, H) batch layout (last axis contiguous), or None for no output gradient; ``IFOG``, ``Tc``,
    ``C``, ``S`` the forward caches. ``dh`` (B, H), sorted rows, holds dL/dh_last on entry (row i joins at
    its last step) and dL/dh0 on return. Writes, packed (N rows, real only): ``dZ`` (N, 4H) = dL/dz_t and
    ``Sp`` (N, H) = h_{t-1}, the states each step's recurrent product read (dU = Sp^T dZ). Scratch: ``dc``
    (2, B, H) for the running dL/dc_t, its two halves in turn (read one, write the other; the final cell
    gets no gradient from outside: both set to 0 here), and ``UT`` (4H, H) for U^T, the operand of step 5.
    """
    cdef Py_ssize_t B = S.shape[1], H = U.shape[0]
    cdef Py_ssize_t T_real = lengths[0] if B else 0
    cdef Py_ssize_t t, i, p, col, k = 0, o = dZ.shape[0]             # o: packed row of step t's row 0
    cdef Py_ssize_t din, dout                                        # the halves of dc read and written
    cdef bint has_dy = dY is not None
    cdef const floating[:, :, :] dYv = dY if has_dy else None   # typed here: a None dY must not pick the dtype
    cdef floating[::1] zero = np.zeros(H, dtype=np.float32 if floating is float else np.float64)
    cdef const floating *dy
    cdef Py_ssize_t N = 0
    for i in range(B):
        N += lengths[i]
    if dZ.shape[0] != N or Sp.shape[0] != N:
        raise ValueError(f"dZ and Sp must hold the {N} real positions (packed), got "
                         f"{dZ.shape[0]} and {Sp.shape[0]} rows")
    if IFOG.shape[0] != T_real or C.shape[0] != T_real + 1:
        raise ValueError("the forward pass kept no caches (prediction): nothing to run backward through")
    if UT.shape[0] != 4 * H or UT.shape[1] != H:
        raise ValueError(f"UT must have shape ({4 * H}, {H}), got ({UT.shape[0]}, {UT.shape[1]})")
    with nogil:
        _transpose(&U[0, 0], H, 4 * H, &UT[0, 0])
        memset(&dc[0, 0, 0], 0, 2 * B * H * sizeof(floating))
        for t in range(T_real - 1, -1, -1):
            while k < B and lengths[k] > t:
                k += 1
            o -= k
            memcpy(&Sp[o, 0], &S[t, 0, 0], k * H * sizeof(floating))      # h_{t-1} of the k real rows
            din, dout = t % 2, (t + 1) % 2
            for i in range(k):
                col = order[i]
                p = _position(reverse, lengths[i], t)
                dy = &dYv[p, col, 0] if has_dy else &zero[0]
                if floating is float:
                    nt_lstm_row_backward_f(H, &dh[i, 0], &dc[din, i, 0], dy, &IFOG[t, i, 0], &Tc[t, i, 0],
                                           &C[t, i, 0], &dZ[o + i, 0], &dc[dout, i, 0])
                else:
                    nt_lstm_row_backward_d(H, &dh[i, 0], &dc[din, i, 0], dy, &IFOG[t, i, 0], &Tc[t, i, 0],
                                           &C[t, i, 0], &dZ[o + i, 0], &dc[dout, i, 0])
            _step_product_back(k, H, &dZ[o, 0], &UT[0, 0], &dh[0, 0])                     # 5. dh = dz U^T
