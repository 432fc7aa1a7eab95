# cython: language_level=3
"""Cython kernels of the optimiser and the parameter average: one pass over the buffer each.

NumPy spends a pass over memory per operation: Adam's dense update is ten passes over arrays of about
1.5 MB each (the bundled model's 377k dense parameters in float32), the average's three. Here each is one
loop that reads every array once. The operations are NumPy's own, in its order, in the arrays' dtype, and
the compiler is told not to contract them into fused multiply-adds: the results are bit-identical to the
twins in :mod:`nertag.net.optim_numpy`.
"""
cimport cython
from cython cimport floating
from libc.math cimport pow, sqrt


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
    #pragma GCC optimize ("fp-contract=off")      /* NumPy's roundings, one per operation */
    #endif
    #define NT_ADAM(NAME, T, SQRT)                                                                        \\
    NT_CLONES static void NAME(Py_ssize_t n, T *__restrict p, const T *__restrict g, T *__restrict m,    \\
                     T *__restrict v, T b1, T c1, T b2, T c2, double s2, T eps, T step) {                \\
        for (Py_ssize_t i = 0; i < n; i++) {                                                             \\
            const T gi = g[i];                                                                           \\
            const T mi = m[i] * b1 + gi * c1;                                                            \\
            const T vi = v[i] * b2 + gi * gi * c2;                                                       \\
            m[i] = mi;                                                                                   \\
            v[i] = vi;                                                                                   \\
            p[i] -= mi / ((T)((double)SQRT(vi) * s2) + eps) * step;   /* NumPy: a float64 scalar */    \\
        }                                                                                                \\
    }
    NT_ADAM(nt_adam_f, float, sqrtf)
    NT_ADAM(nt_adam_d, double, sqrt)
    #define NT_EMA(NAME, T)                                                                               \\
    NT_CLONES static void NAME(Py_ssize_t n, T *__restrict a, const T *__restrict x, T w) {              \\
        for (Py_ssize_t i = 0; i < n; i++) a[i] += (x[i] - a[i]) * w;                                    \\
    }
    NT_EMA(nt_ema_f, float)
    NT_EMA(nt_ema_d, double)
    #if defined(__GNUC__) && !defined(__clang__)
    #pragma GCC pop_options
    #endif
    """
    void nt_adam_f(Py_ssize_t n, float *p, const float *g, float *m, float *v, float b1, float c1, float b2,
                   float c2, double s2, float eps, float step) noexcept nogil
    void nt_adam_d(Py_ssize_t n, double *p, const double *g, double *m, double *v, double b1, double c1,
                   double b2, double c2, double s2, double eps, double step) noexcept nogil
    void nt_ema_f(Py_ssize_t n, float *a, const float *x, float w) noexcept nogil
    void nt_ema_d(Py_ssize_t n, double *a, const double *x, double w) noexcept nogil


@cython.boundscheck(False)
@cython.wraparound(False)
def adam_update(floating[::1] p, const floating[::1] g, floating[::1] m, floating[::1] v, double beta1,
                double beta2, double eps, double lr, long long t):
    """One Adam step in place on ``p`` (n,), with gradients ``g`` (n,) and moments ``m``, ``v`` (n,).

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``,
    ``p -= m / (sqrt(v) / sqrt(1 - b2^t) + eps) * lr / (1 - b1^t)``; the scalars rounded to the dtype first,
    as NumPy rounds Python floats, except ``1 / sqrt(1 - b2^t)``, a float64 product as in the twin.
    """
    cdef Py_ssize_t n = p.shape[0]
    if g.shape[0] != n or m.shape[0] != n or v.shape[0] != n:
        raise ValueError(f"p, g, m and v must have one length, got {n}, {g.shape[0]}, {m.shape[0]}, {v.shape[0]}")
    cdef double s2 = 1.0 / sqrt(1.0 - pow(beta2, <double> t)), step = lr / (1.0 - pow(beta1, <double> t))
    if n == 0:
        return
    with nogil:
        if floating is float:
            nt_adam_f(n, &p[0], &g[0], &m[0], &v[0], <float> beta1, <float> (1.0 - beta1), <float> beta2,
                      <float> (1.0 - beta2), s2, <float> eps, <float> step)
        else:
            nt_adam_d(n, &p[0], &g[0], &m[0], &v[0], beta1, 1.0 - beta1, beta2, 1.0 - beta2, s2, eps, step)


@cython.boundscheck(False)
@cython.wraparound(False)
def ema_update(floating[::1] average, const floating[::1] x, double weight):
    """``average += (x - average) * weight`` in place, both (n,); ``weight`` rounded to the dtype first."""
    cdef Py_ssize_t n = average.shape[0]
    if x.shape[0] != n:
        raise ValueError(f"average and x must have one length, got {n} and {x.shape[0]}")
    if n == 0:
        return
    with nogil:
        if floating is float:
            nt_ema_f(n, &average[0], &x[0], <float> weight)
        else:
            nt_ema_d(n, &average[0], &x[0], weight)
