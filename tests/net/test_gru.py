"""GRU: an independent per-step reference, the whole-sequence kernels against their NumPy twins, both
kernels end to end, parameters, prediction without caches, the workspace pool."""
import numpy as np
import pytest
from recurrent_checks import assert_saturated_gates_stay_finite, assert_scans_agree

from nertag.net._recurrent import _set_block, _set_own_gemm, gru_scan_backward, gru_scan_forward
from nertag.net.bidirectional import Bidirectional
from nertag.net.gru import GRU
from nertag.net.padded import Padded
from nertag.net.params import ParamBuffer
from nertag.net.recurrent_numpy import gru_scan_backward as gru_scan_backward_numpy
from nertag.net.recurrent_numpy import gru_scan_forward as gru_scan_forward_numpy
from nertag.net.workspace import Workspace

CASES = [  # (T, lengths): uneven, length 1, B = 1, a padded tail beyond the longest sequence
    (5, [5, 1, 3, 2, 5]),
    (1, [1]),
    (4, [4]),
    (6, [2, 4, 1]),
    (3, [1, 1]),
]


def scan_inputs(T, lengths, H, dtype, seed, reverse, shuffle, D=3):
    rng = np.random.default_rng(seed)
    lengths = np.array(lengths, dtype=np.int64)
    B = len(lengths)
    order = np.argsort(-lengths, kind="stable")
    if shuffle:                                         # any order of equal lengths is a valid sorted order
        order = order[np.lexsort((rng.random(B), -lengths[order]))]
    sorted_lengths = np.ascontiguousarray(lengths[order])
    T_real = int(sorted_lengths[0])
    X = rng.normal(size=(T, B, D)).astype(dtype)
    W = (0.7 * rng.normal(size=(D, 3 * H))).astype(dtype)
    rows = Padded.check(lengths, T, B).step_rows(reverse) if not shuffle else packed_rows(sorted_lengths, order,
                                                                                          reverse, B)
    A = X.reshape(T * B, D)[rows] @ W                   # (N, 3H) packed
    bias = rng.normal(size=3 * H).astype(dtype)
    U = (0.7 * rng.normal(size=(H, 3 * H))).astype(dtype)
    c_n = rng.normal(size=H).astype(dtype)
    h0 = rng.normal(size=(B, H)).astype(dtype)
    dY = rng.normal(size=(T, B, H)).astype(dtype)
    dh_last = rng.normal(size=(B, H)).astype(dtype)
    return dict(A=A, X=X, W=W, bias=bias, U=U, c_n=c_n, lengths=sorted_lengths, order=np.ascontiguousarray(order),
                reverse=reverse, h0=h0[order], dY=dY, dh_last=dh_last[order], T_real=T_real, rows=rows)


def packed_rows(sorted_lengths, order, reverse, B):
    """The packed (step order) rows ``p * B + column``, listed step by step as the kernels visit them."""
    rows = []
    for t in range(int(sorted_lengths[0])):
        for i in np.flatnonzero(sorted_lengths > t):
            p = sorted_lengths[i] - 1 - t if reverse else t
            rows.append(p * B + order[i])
    return np.array(rows, dtype=np.int64)


def run_scan(forward, backward, case, with_dy=True, per_step=False, outputs=True):
    A, U, X = case["A"], case["U"], case["X"]
    T, B, D = X.shape
    H = U.shape[0]
    dtype = A.dtype
    S = np.full((case["T_real"] + 1, B, H), np.nan, dtype)   # NaN: anything the kernels should write but miss
    S[0] = case["h0"]
    RZN = np.full((case["T_real"], B, 3 * H), np.nan, dtype)
    Gn = np.full((case["T_real"], B, H), np.nan, dtype)
    G, At, Xt = np.empty((B, 3 * H), dtype), np.empty((B, 3 * H), dtype), np.empty((B, D), dtype)
    wide = np.full((T, B, 2 * H), np.nan, dtype)
    Y = wide[:, :, H:]                                        # a strided view, as Bidirectional passes
    forward(None if per_step else A, X, case["W"], case["bias"], U, case["c_n"], case["lengths"], case["order"],
            case["reverse"], S, RZN, Gn, G, At, Xt, Y if outputs else None)
    N = int(case["lengths"].sum())
    dG = np.full((N, 3 * H), np.nan, dtype)
    dA = np.full((N, 3 * H), np.nan, dtype)
    Sp = np.full((N, H), np.nan, dtype)
    dh = case["dh_last"].copy()
    dY = case["dY"] if with_dy else None
    UT = np.full((3 * H, H), np.nan, dtype)
    backward(dY, U, RZN, Gn, S, case["lengths"], case["order"], case["reverse"], dG, dA, Sp, dh, UT)
    results = {"Y": Y, "S": S, "dG": dG, "dA": dA, "Sp": Sp, "dh0": dh}
    if not outputs:
        assert np.all(np.isnan(wide)), "Y was written although None was passed"
        del results["Y"]
    return results


@pytest.mark.parametrize("T, lengths", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("per_step", [False, True])
def test_compiled_scans_match_their_numpy_twins(T, lengths, dtype, reverse, shuffle, per_step):
    case = scan_inputs(T, lengths, H=5, dtype=dtype, seed=len(lengths) * 10 + T, reverse=reverse, shuffle=shuffle)
    compiled = run_scan(gru_scan_forward, gru_scan_backward, case, per_step=per_step)
    twin = run_scan(gru_scan_forward_numpy, gru_scan_backward_numpy, case, per_step=per_step)
    hoisted = run_scan(gru_scan_forward_numpy, gru_scan_backward_numpy, case)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    assert_scans_agree(compiled, twin, tol)
    assert_scans_agree(twin, hoisted, tol, finite=False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scans_without_output_gradient(dtype):
    case = scan_inputs(5, [5, 2, 3], H=3, dtype=dtype, seed=3, reverse=True, shuffle=False)
    compiled = run_scan(gru_scan_forward, gru_scan_backward, case, with_dy=False)
    twin = run_scan(gru_scan_forward_numpy, gru_scan_backward_numpy, case, with_dy=False)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    assert_scans_agree(compiled, twin, tol, finite=False)


def predict_scan(forward, case, per_step, outputs):
    """The forward scan as prediction runs it (one step of gate scratch, no caches): ``S`` and ``Y``."""
    A, U, X = case["A"], case["U"], case["X"]
    T, B, D = X.shape
    H = U.shape[0]
    dtype = A.dtype
    S = np.full((case["T_real"] + 1, B, H), np.nan, dtype)
    S[0] = case["h0"]
    RZN, Gn = np.empty((1, B, 3 * H), dtype), np.empty((1, B, H), dtype)
    G, At, Xt = np.empty((B, 3 * H), dtype), np.empty((B, 3 * H), dtype), np.empty((B, D), dtype)
    Y = np.full((T, B, H), np.nan, dtype)
    forward(None if per_step else A, X, case["W"], case["bias"], U, case["c_n"], case["lengths"], case["order"],
            case["reverse"], S, RZN, Gn, G, At, Xt, Y if outputs else None)
    return S, Y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("per_step", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_prediction_scans_in_blocks_of_rows_match_the_twin(dtype, per_step, reverse, blocks):
    """Prediction runs the sorted rows in blocks (all steps of a block, then the next): every block size gives
    the twin's states and outputs, padding written as 0; without outputs Y is left alone."""
    lengths = [7, 2, 5, 1, 7, 3, 4, 6, 2, 5, 1, 7, 3]
    case = scan_inputs(8, lengths, H=6, dtype=dtype, seed=13, reverse=reverse, shuffle=True)
    S_twin, Y_twin = predict_scan(gru_scan_forward_numpy, case, per_step, True)
    tol = 2e-6 if dtype == np.float32 else 1e-13
    for outputs in (True, False):
        S, Y = predict_scan(gru_scan_forward, case, per_step, outputs)
        np.testing.assert_allclose(S, S_twin, rtol=0, atol=tol)
        if outputs:
            np.testing.assert_allclose(Y, Y_twin, rtol=0, atol=tol)
        else:
            assert np.all(np.isnan(Y))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("per_step", [False, True])
def test_scans_without_outputs_write_the_same_states(dtype, per_step):
    """Y None (a character encoder wants only the final states): nothing written to Y, states, caches and
    gradients as with outputs."""
    case = scan_inputs(7, [7, 2, 5, 1, 7, 3, 4, 6, 2, 5, 1], H=6, dtype=dtype, seed=11, reverse=True, shuffle=True)
    for forward, backward in ((gru_scan_forward, gru_scan_backward),
                              (gru_scan_forward_numpy, gru_scan_backward_numpy)):
        with_outputs = run_scan(forward, backward, case, with_dy=False, per_step=per_step)
        without = run_scan(forward, backward, case, with_dy=False, per_step=per_step, outputs=False)
        for name in without:
            np.testing.assert_array_equal(without[name], with_outputs[name], err_msg=name)


@pytest.fixture(params=[(0, 0), None, (10**6, 0)], ids=["all-BLAS", "default", "no-BLAS"])
def own_gemm(request):
    """Which of the steps' products skip BLAS, set for one test (None: the default, BLAS at these sizes)."""
    old = _set_own_gemm(*request.param) if request.param else None
    yield request.param
    if old:
        _set_own_gemm(*old)


@pytest.fixture(params=[None, (0, 1), (0, 3), (0, 8)], ids=["one-block", "rows-1", "rows-3", "rows-8"])
def blocks(request):
    """How many sorted rows the scans run together (None: the default, one block at these sizes)."""
    old = _set_block(*request.param) if request.param else None
    yield request.param
    if old:
        _set_block(*old)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("H, B", [(40, 13), (17, 9), (8, 60)])
def test_scans_match_their_twins_at_larger_sizes(dtype, H, B, own_gemm):
    """Sizes that reach every path of the steps' products: blocks of 3 vectors of columns and their tails
    (3H = 120 and H = 40; 51 and 17; 24 and 8), equal row blocks (13 = 7 + 6), and BLAS or not; the
    U^T scratch of the backward scan is then written or left alone."""
    rng = np.random.default_rng(H * B)
    lengths = list(rng.integers(1, 9, size=B))
    lengths[0] = 9
    for per_step in (False, True):
        case = scan_inputs(10, lengths, H=H, dtype=dtype, seed=H + B, reverse=bool(B % 2), shuffle=True, D=11)
        compiled = run_scan(gru_scan_forward, gru_scan_backward, case, per_step=per_step)
        twin = run_scan(gru_scan_forward_numpy, gru_scan_backward_numpy, case, per_step=per_step)
        rtol, atol = (2e-5, 5e-5) if dtype == np.float32 else (1e-12, 1e-11)   # gradients grow to ~50 here
        assert_scans_agree(compiled, twin, atol, rtol)


def test_padding_is_written_as_zero():
    case = scan_inputs(6, [2, 4, 1], H=4, dtype=np.float64, seed=5, reverse=True, shuffle=False)
    out = run_scan(gru_scan_forward, gru_scan_backward, case)
    lengths = np.array([2, 4, 1])
    for b, L in enumerate(lengths):
        assert np.all(out["Y"][L:, b] == 0)
    for t in range(case["T_real"]):
        k = int(np.sum(case["lengths"] > t))
        assert np.all(out["S"][t + 1, k:] == 0)


@pytest.mark.parametrize("reverse", [False, True])
def test_packed_rows_are_the_real_positions_in_step_order(reverse):
    lengths = np.array([2, 5, 1, 5, 3])
    padded = Padded.check(lengths, 6, 5)
    rows = padded.step_rows(reverse)
    expected = packed_rows(padded.sorted_lengths, padded.order, reverse, 5)
    np.testing.assert_array_equal(rows, expected)
    t_idx, b_idx = padded.real
    assert sorted(rows.tolist()) == sorted((t_idx * 5 + b_idx).tolist())     # each real position once


def test_packed_products_equal_the_padded_ones():
    """dA and dG packed are the batch- and step-layout gradients of the real positions, nothing else."""
    case = scan_inputs(6, [2, 4, 1, 4], H=3, dtype=np.float64, seed=9, reverse=True, shuffle=False)
    out = run_scan(gru_scan_forward, gru_scan_backward, case)
    rows = case["rows"]
    T, B, D = case["X"].shape
    dA_padded = np.zeros((T * B, 9))
    dA_padded[rows] = out["dA"]                          # scattered back: 0 at padding by construction
    X2 = case["X"].reshape(T * B, D)
    np.testing.assert_allclose(X2.T @ dA_padded, X2[rows].T @ out["dA"], rtol=1e-12, atol=1e-12)
    k = [int(np.sum(case["lengths"] > t)) for t in range(case["T_real"])]
    Sp = np.concatenate([out["S"][t, : k[t]] for t in range(case["T_real"])])
    np.testing.assert_array_equal(out["Sp"], Sp)


def test_float32_tanh_saturates_without_overflow():
    case = scan_inputs(3, [3, 2], H=4, dtype=np.float32, seed=7, reverse=False, shuffle=False)
    case["A"] = np.where(case["A"] > 0, 1e30, -1e30).astype(np.float32)
    out = run_scan(gru_scan_forward, gru_scan_backward, case)
    assert all(np.all(np.isfinite(v)) for v in out.values())
    assert np.all(np.abs(out["Y"]) <= 1 + 1e-6 + np.abs(case["h0"]).max())


def make_gru(kernel="cython", dtype=np.float64, D=3, H=4, seed=0):
    layer = GRU(D, H, kernel=kernel)
    buffer = ParamBuffer(layer, dtype, seed)
    buffer.data[:] = np.random.default_rng(seed).normal(scale=0.6, size=buffer.data.size)
    return layer, buffer


def test_gru_float32_end_to_end_matches_the_numpy_kernel():
    rng = np.random.default_rng(4)
    lengths = np.array([7, 1, 4, 7, 2])
    X, dY = rng.normal(size=(7, 5, 6)), rng.normal(size=(7, 5, 8))
    out = []
    for kernel in ("cython", "numpy"):
        layer = Bidirectional(lambda: GRU(6, 4, kernel=kernel))
        buffer = ParamBuffer(layer, np.float32, seed=1)
        Y, h_last, backprop = layer.run(X, lengths)
        dX, dh0 = backprop(dY)
        out.append((Y, h_last, dX, dh0, buffer.grad.copy()))
    for a, b in zip(*out):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5)


def test_workspace_never_hands_out_memory_in_use():
    layer, buffer = make_gru()
    rng = np.random.default_rng(5)
    X1, X2 = rng.normal(size=(4, 3, 3)), rng.normal(size=(4, 3, 3))
    dY = rng.normal(size=(4, 3, 4))
    Y1, _, back1 = layer.run(X1)
    Y1_copy = Y1.copy()
    Y2, _, back2 = layer.run(X2)                     # the first call's caches and output are still alive
    np.testing.assert_array_equal(Y1, Y1_copy)
    dX1, _ = back1(dY)
    g1 = buffer.grad.copy()
    buffer.grad[:] = 0
    fresh, fresh_buffer = make_gru()
    _, _, back_fresh = fresh.run(X1)
    dX_fresh, _ = back_fresh(dY)
    np.testing.assert_allclose(dX1, dX_fresh, atol=1e-12)
    np.testing.assert_allclose(g1, fresh_buffer.grad, atol=1e-12)


def test_workspace_reuses_freed_buffers_and_stays_bounded():
    ws = Workspace(max_buffers=3)
    a = ws.take((3, 4), np.float32)
    address = a.__array_interface__["data"][0]
    b = ws.take((3, 4), np.float32)
    assert b.__array_interface__["data"][0] != address
    del a
    c = ws.take((2, 5), np.float32)                  # smaller request, freed buffer: reused
    assert c.__array_interface__["data"][0] == address and c.shape == (2, 5) and c.flags.c_contiguous
    view = c[1:]
    del c
    d = ws.take((2, 2), np.float32)                  # a view still refers to that buffer: not reused
    assert d.__array_interface__["data"][0] != address
    assert ws.take((2, 2), np.float64).dtype == np.float64
    del view, d
    for n in (20, 30, 40, 50):                       # each needs a new buffer; free ones make room
        ws.take((n,), np.float32)
    assert len(ws._pool) == 3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_step_by_step_input_products_equal_the_hoisted_gemm(monkeypatch, dtype):
    from nertag.net import gru as gru_module

    rng = np.random.default_rng(6)
    lengths = np.array([3, 6, 1, 6, 2])
    X, dY = rng.normal(size=(6, 5, 3)), rng.normal(size=(6, 5, 8))
    out = []
    for min_batch in (10**9, 1):                      # never, always per step
        monkeypatch.setattr(gru_module, "STEP_INPUT_MIN_BATCH", min_batch)
        layer = Bidirectional(lambda: GRU(3, 4))
        buffer = ParamBuffer(layer, dtype, seed=2)
        Y, h_last, backprop = layer.run(X, lengths)
        dX, dh0 = backprop(dY)
        out.append((Y, h_last, dX, dh0, buffer.grad.copy()))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for a, b in zip(*out):
        np.testing.assert_allclose(a, b, rtol=0, atol=tol)


@pytest.mark.parametrize("kernel", ["cython", "numpy"])
def test_prediction_without_caches_gives_the_same_outputs(kernel):
    rng = np.random.default_rng(8)
    lengths = np.array([4, 1, 6, 6])
    X = rng.normal(size=(6, 4, 3))
    layer = Bidirectional(lambda: GRU(3, 4, kernel=kernel))
    ParamBuffer(layer, np.float32, seed=3)
    Y, h_last, _ = layer.run(X, lengths)
    Y_pred, h_pred, backprop = layer.run(X, lengths, grad=False)
    np.testing.assert_array_equal(Y, Y_pred)
    np.testing.assert_array_equal(h_last, h_pred)
    with pytest.raises(RuntimeError, match="prediction"):
        backprop(np.zeros_like(Y))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def reference_gru(x, h, W, U, b, c):
    """One sequence, one step at a time, gate by gate, written straight from Cho et al. (2014)."""
    H = h.shape[0]
    Wr, Wz, Wn = W[:, :H], W[:, H: 2 * H], W[:, 2 * H:]
    Ur, Uz, Un = U[:, :H], U[:, H: 2 * H], U[:, 2 * H:]
    br, bz, bn = b[:H], b[H: 2 * H], b[2 * H:]
    cr, cz, cn = c[:H], c[H: 2 * H], c[2 * H:]
    outputs = []
    for x_t in x:
        r = sigmoid(x_t @ Wr + br + h @ Ur + cr)
        z = sigmoid(x_t @ Wz + bz + h @ Uz + cz)
        n = np.tanh(x_t @ Wn + bn + r * (h @ Un + cn))
        h = (1 - z) * n + z * h
        outputs.append(h)
    return np.array(outputs), h


@pytest.mark.parametrize("kernel", ["cython", "numpy"])
def test_matches_a_per_step_reference(kernel):
    layer, _ = make_gru(kernel)
    rng = np.random.default_rng(1)
    lengths = np.array([5, 1, 3, 2, 5])
    X, h0 = rng.normal(size=(6, 5, 3)), rng.normal(size=(5, 4))
    Y, h_last, _ = layer.run(X, lengths, h0)
    for j, L in enumerate(lengths):
        Y_ref, h_ref = reference_gru(X[:L, j], h0[j], *(layer.p[k] for k in "WUbc"))
        np.testing.assert_allclose(Y[:L, j], Y_ref, rtol=0, atol=1e-12)
        np.testing.assert_allclose(h_last[j], h_ref, rtol=0, atol=1e-12)
        assert np.all(Y[L:, j] == 0)


def test_all_kernels_give_the_same_gradients():
    rng = np.random.default_rng(4)
    X, lengths, dY = rng.normal(size=(6, 4, 3)), np.array([6, 2, 5, 1]), rng.normal(size=(6, 4, 4))
    results = []
    for kernel in ("cython", "numpy"):
        layer, buffer = make_gru(kernel)
        Y, _, backprop = layer.run(X, lengths)
        dX, dh0 = backprop(dY)
        results.append((Y, dX, dh0, buffer.grad.copy()))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_saturated_gates_stay_finite():
    assert_saturated_gates_stay_finite(make_gru()[0], 3)


def test_parameters_count_shapes_and_init():
    D, H = 7, 5
    layer = GRU(D, H)
    assert layer.n_params == 3 * (D * H + H * H + 2 * H)
    buffer = ParamBuffer(layer, np.float64, seed=0)
    assert [s.shape for s in layer.specs] == [(D, 3 * H), (H, 3 * H), (3 * H,), (3 * H,)]
    for block in np.split(layer.p["U"], 3, axis=1):                 # orthogonal per gate block
        np.testing.assert_allclose(block.T @ block, np.eye(H), atol=1e-12)
    assert np.all(layer.p["b"] == 0) and np.all(layer.p["c"] == 0)
    assert [s.decay for s in layer.specs] == [True, True, False, False]
    assert buffer.decay_mask.sum() == D * 3 * H + H * 3 * H


def test_float32_parameters_keep_float32_throughout():
    layer, _ = make_gru(dtype=np.float32)
    Y, h_last, backprop = layer.run(np.ones((4, 2, 3)), np.array([4, 2]))
    dX, dh0 = backprop(np.ones_like(Y), np.ones_like(h_last))
    assert {a.dtype for a in (Y, h_last, dX, dh0, layer.g["U"])} == {np.dtype(np.float32)}


def test_unknown_kernel_is_reported():
    with pytest.raises(ValueError, match="kernel must be one of .* got 'fortran'"):
        GRU(3, 4, kernel="fortran")
