# cython: language_level=3
"""Cython kernels: the elementwise part of one GRU step, fused into one pass over the (k, H) real rows.

The recurrent GEMM of each step stays in NumPy (BLAS); these kernels replace the dozen-odd NumPy
calls around it. Notation and numbered steps as in :mod:`nertag.net.gru`; NumPy twins with the same
signatures are :func:`nertag.net.gru.gru_step_forward_numpy` and ``gru_step_backward_numpy``.
sigmoid is ``1 / (1 + exp(-x))`` and tanh is libm's, both in double.
"""
cimport cython
from cython cimport floating
from libc.math cimport exp, tanh


cdef inline double _sigmoid(double x) noexcept nogil:
    return 1.0 / (1.0 + exp(-x))


@cython.boundscheck(False)
@cython.wraparound(False)
def gru_step_forward(const floating[:, ::1] a, const floating[:, ::1] g, const floating[::1] c_n,
                     const floating[:, ::1] h_prev, floating[:, ::1] rzn, floating[:, ::1] gn,
                     floating[:, ::1] h):
    """Gates and new state of the k real rows: writes rzn = [r | z | n] (k, 3H), gn (k, H), h (k, H).

    ``a`` (k, 3H) input pre-activations with c_r and c_z already added, ``g`` (k, 3H) = h_prev U.
    """
    cdef Py_ssize_t i, j, k = h.shape[0], H = h.shape[1]
    cdef double r, z, gnj, nj
    with nogil:
        for i in range(k):
            for j in range(H):
                r = _sigmoid(a[i, j] + g[i, j])
                z = _sigmoid(a[i, H + j] + g[i, H + j])
                gnj = g[i, 2 * H + j] + c_n[j]
                nj = tanh(a[i, 2 * H + j] + r * gnj)
                rzn[i, j] = r
                rzn[i, H + j] = z
                rzn[i, 2 * H + j] = nj
                gn[i, j] = gnj
                h[i, j] = nj + z * (h_prev[i, j] - nj)


@cython.boundscheck(False)
@cython.wraparound(False)
def gru_step_backward(floating[:, ::1] dh, const floating[:, ::1] dy, const floating[:, ::1] rzn,
                      const floating[:, ::1] gn, const floating[:, ::1] h_prev, floating[:, ::1] dg,
                      floating[:, ::1] da):
    """Steps 1-4 and the first term of 5 for the k real rows.

    ``dh`` (k, H) holds dL/dh_t from later steps and is overwritten with ``(dh + dy) * z``; writes
    ``dg`` (k, 3H) = dL/dg_t and ``da`` (k, 3H) = dL/da_t. The caller adds ``dg U^T`` to ``dh``.
    """
    cdef Py_ssize_t i, j, k = dh.shape[0], H = dh.shape[1]
    cdef double d, r, z, nj, dn, dz, dan, dr
    with nogil:
        for i in range(k):
            for j in range(H):
                r = rzn[i, j]
                z = rzn[i, H + j]
                nj = rzn[i, 2 * H + j]
                d = dh[i, j] + dy[i, j]                           # 1.
                dn = d * (1.0 - z)                                # 2.
                dz = d * (h_prev[i, j] - nj)
                dan = dn * (1.0 - nj * nj)                        # 3.
                dr = dan * gn[i, j]
                dz = dz * z * (1.0 - z)                           # 4.
                dr = dr * r * (1.0 - r)
                dg[i, j] = dr
                dg[i, H + j] = dz
                dg[i, 2 * H + j] = dan * r
                da[i, j] = dr
                da[i, H + j] = dz
                da[i, 2 * H + j] = dan
                dh[i, j] = d * z                                  # 5., first term
