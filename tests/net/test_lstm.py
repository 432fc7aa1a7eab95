"""LSTM: the compiled scans against their NumPy twins (every output and gradient, uneven lengths, both
dtypes), central-difference gradients (parameters, inputs, initial and final states) through both kernels,
an independent per-sequence reference forwards and backwards, a padded batch against its sequences one at
a time, the character-encoder summary under Bidirectional, parameters and the forget-gate bias, dtypes,
prediction without gradients or caches, the float32 exponential."""
import numpy as np
import pytest
from recurrent_checks import (
    assert_padded_batch_equals_sequences_one_at_a_time,
    assert_saturated_gates_stay_finite,
    assert_scans_agree,
)

from nertag.net import lstm as lstm_module
from nertag.net._lstm import _expf, _set_small_product, lstm_scan_backward, lstm_scan_forward
from nertag.net.bidirectional import Bidirectional
from nertag.net.gradcheck import check_layer, numerical_gradient, relative_error
from nertag.net.gru import GRU
from nertag.net.lstm import LSTM
from nertag.net.lstm_numpy import lstm_scan_backward as lstm_scan_backward_numpy
from nertag.net.lstm_numpy import lstm_scan_forward as lstm_scan_forward_numpy
from nertag.net.params import ParamBuffer

D, H = 3, 4
EPS = 3e-5          # as in test_rnn: a smaller step lets roundoff of the summed loss reach ~1e-6
EPS_STATES = 1e-5   # the loss of the state test is smaller, so truncation (~eps^2) decides: 1.2e-6 at 3e-5
CASES = [  # (T, lengths): uneven and unsorted with ties, length 1, B = 1, a padded tail beyond the longest
    (5, (5, 1, 3, 2, 5)),
    (1, (1,)),
    (4, (4,)),
    (6, (2, 4, 1)),
    (3, (1, 1)),
]
LAYERS = {
    "lstm": lambda kernel: LSTM(D, H, kernel=kernel),
    "bilstm": lambda kernel: Bidirectional(lambda: LSTM(D, H, kernel=kernel)),
    "bilstm-uneven": lambda kernel: Bidirectional(LSTM(D, H, kernel=kernel), LSTM(D, H - 1, kernel=kernel)),
}
KERNELS = ["cython", "numpy"]


def make(name="lstm", dtype=np.float64, seed=0, kernel="cython"):
    """A layer with random parameters large enough that every gate and nonlinearity matters."""
    layer = LAYERS[name](kernel)
    buffer = ParamBuffer(layer, dtype, seed)
    buffer.data[:] = np.random.default_rng(seed).normal(scale=0.6, size=buffer.data.size)
    return layer, buffer


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def reference_lstm(x, h, W, U, b):
    """One sequence ``x`` (L, D), one step at a time, gate by gate, from Gers et al. (2000)."""
    Wi, Wf, Wo, Wg = np.split(W, 4, axis=1)
    Ui, Uf, Uo, Ug = np.split(U, 4, axis=1)
    bi, bf, bo, bg = np.split(b, 4)
    c = np.zeros_like(h)
    outputs = []
    for x_t in x:
        i = sigmoid(x_t @ Wi + h @ Ui + bi)
        f = sigmoid(x_t @ Wf + h @ Uf + bf)
        o = sigmoid(x_t @ Wo + h @ Uo + bo)
        g = np.tanh(x_t @ Wg + h @ Ug + bg)
        c = f * c + i * g
        h = o * np.tanh(c)
        outputs.append(h)
    return np.array(outputs), h


# -- gradients -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("T, lengths", CASES)
def test_gradients_wrt_every_parameter_and_the_input(name, T, lengths, kernel):
    layer, buffer = make(name, kernel=kernel)
    X = np.random.default_rng(2).normal(size=(T, len(lengths), D))
    errors = check_layer(layer, X, np.array(lengths), buffer=buffer, eps=EPS)   # every entry, no sampling
    assert errors["params"] < 1e-6 and errors["inputs"] < 1e-6, errors


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("with_dy", [True, False], ids=["outputs-and-summary", "summary-only"])
def test_gradients_wrt_initial_and_final_states(name, with_dy, kernel):
    """``L = sum(R Y) + sum(Q h_last)``; summary-only is the character encoder's use (dY is None)."""
    layer, buffer = make(name, kernel=kernel)
    rng = np.random.default_rng(3)
    T, lengths = 6, np.array([6, 1, 4, 2, 6])
    X, h0 = rng.normal(size=(T, 5, D)), rng.normal(size=(5, layer.n_out))
    R = rng.normal(size=(T, 5, layer.n_out)) * (np.arange(T)[:, None] < lengths)[:, :, None] * with_dy
    Q = rng.normal(size=(5, layer.n_out))

    def loss():
        Y, h_last, _ = layer.run(X, lengths, h0)
        return float(np.sum(R * Y) + np.sum(Q * h_last))

    buffer.zero_grad()
    dX, dh0 = layer.run(X, lengths, h0)[2](R if with_dy else None, Q)
    dparams = buffer.grad.copy()
    assert relative_error(dparams, numerical_gradient(loss, buffer.data, EPS_STATES)) < 1e-6
    assert relative_error(dX, numerical_gradient(loss, X, EPS_STATES)) < 1e-6
    assert relative_error(dh0, numerical_gradient(loss, h0, EPS_STATES)) < 1e-6


# -- forward against the reference -----------------------------------------------------------------------

@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("reverse", [False, True])
def test_matches_a_per_sequence_reference(reverse, kernel):
    layer, _ = make(kernel=kernel)
    rng = np.random.default_rng(1)
    lengths = np.array([5, 1, 3, 2, 5])
    X, h0 = rng.normal(size=(6, 5, D)), rng.normal(size=(5, H))
    Y, h_last, _ = layer.run(X, lengths, h0, reverse=reverse)
    for j, L in enumerate(lengths):
        x = X[:L, j][::-1] if reverse else X[:L, j]
        Y_ref, h_ref = reference_lstm(x, h0[j], layer.p["W"], layer.p["U"], layer.p["b"])
        np.testing.assert_allclose(Y[:L, j], Y_ref[::-1] if reverse else Y_ref, rtol=0, atol=1e-12)
        np.testing.assert_allclose(h_last[j], h_ref, rtol=0, atol=1e-12)
        assert np.all(Y[L:, j] == 0)


def test_bidirectional_summary_is_the_character_encoder_output():
    """``h_last = [h_fwd after the last real position ; h_bwd after position 0]``, per word."""
    layer, _ = make("bilstm")
    rng = np.random.default_rng(4)
    lengths = np.array([3, 7, 1, 5])                               # characters per word
    X = rng.normal(size=(7, 4, D))
    Y, h_last, _ = layer.run(X, lengths)
    for j, L in enumerate(lengths):
        _, h_f = reference_lstm(X[:L, j], np.zeros(H), *(layer.fwd.p[k] for k in "WUb"))
        _, h_b = reference_lstm(X[:L, j][::-1], np.zeros(H), *(layer.bwd.p[k] for k in "WUb"))
        np.testing.assert_allclose(h_last[j], np.concatenate([h_f, h_b]), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(h_last[:, :H], Y[lengths - 1, np.arange(4), :H])
    np.testing.assert_array_equal(h_last[:, H:], Y[0, :, H:])


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("name", LAYERS)
def test_padded_batch_equals_sequences_one_at_a_time(name, kernel):
    assert_padded_batch_equals_sequences_one_at_a_time(*make(name, kernel=kernel), D, atol=1e-12)


# -- parameters ----------------------------------------------------------------------------------------

def test_parameters_count_shapes_and_init():
    D, H = 7, 5
    layer = LSTM(D, H)
    assert layer.n_params == 4 * (D * H + H * H + H)
    assert Bidirectional(lambda: LSTM(D, H)).n_params == 2 * layer.n_params
    buffer = ParamBuffer(layer, np.float64, seed=0)
    assert [s.shape for s in layer.specs] == [(D, 4 * H), (H, 4 * H), (4 * H,)]
    for block in np.split(layer.p["U"], 4, axis=1):                 # orthogonal per gate block
        np.testing.assert_allclose(block.T @ block, np.eye(H), atol=1e-12)
    assert [s.decay for s in layer.specs] == [True, True, False]
    assert buffer.decay_mask.sum() == D * 4 * H + H * 4 * H


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forget_gate_bias_is_one_after_initialisation(dtype):
    layer = Bidirectional(lambda: LSTM(3, 6))
    ParamBuffer(layer, dtype, seed=1)
    for direction in (layer.fwd, layer.bwd):
        b_i, b_f, b_o, b_g = np.split(direction.p["b"], 4)
        assert np.all(b_f == 1)
        assert not b_i.any() and not b_o.any() and not b_g.any()


# -- dtypes, prediction, edge cases ----------------------------------------------------------------------

@pytest.mark.parametrize("name", LAYERS)
def test_float32_keeps_float32_and_agrees_with_float64(name):
    layer64, buffer64 = make(name)
    layer32, buffer32 = make(name, np.float32)
    buffer32.data[:] = buffer64.data
    rng = np.random.default_rng(5)
    lengths = np.array([5, 2, 4])
    X, dY = rng.normal(size=(5, 3, D)), rng.normal(size=(5, 3, layer64.n_out))
    out = []
    for layer, buffer, dtype in ((layer64, buffer64, np.float64), (layer32, buffer32, np.float32)):
        buffer.zero_grad()
        Y, h_last, backprop = layer.run(X.astype(dtype), lengths)
        dX, dh0 = backprop(dY.astype(dtype), np.ones_like(h_last))
        out.append((Y, h_last, dX, dh0, buffer.grad.copy()))
    for a64, a32 in zip(*out):
        assert a32.dtype == np.float32
        np.testing.assert_allclose(a32, a64, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kernel", KERNELS)
def test_prediction_without_gradients_gives_the_same_outputs(kernel):
    """Prediction keeps one step of scratch instead of the caches: the same numbers all the same."""
    layer, _ = make("bilstm", np.float32, kernel=kernel)
    X = np.random.default_rng(8).normal(size=(6, 4, D))
    lengths = np.array([4, 1, 6, 6])
    Y, h_last, _ = layer.run(X, lengths)
    Y_pred, h_pred, backprop = layer.run(X, lengths, grad=False)
    np.testing.assert_array_equal(Y, Y_pred)
    np.testing.assert_array_equal(h_last, h_pred)
    with pytest.raises(RuntimeError, match="prediction"):
        backprop(np.zeros_like(Y))


def test_no_state_is_carried_between_calls_and_caches_stay_alive():
    layer, buffer = make()
    rng = np.random.default_rng(6)
    X1, X2, dY = rng.normal(size=(4, 3, D)), rng.normal(size=(4, 3, D)), rng.normal(size=(4, 3, H))
    Y1, _, back1 = layer.run(X1)
    Y1_copy = Y1.copy()
    layer.run(X2, h0=rng.normal(size=(3, H)))                      # its scratch must not be the first run's
    np.testing.assert_array_equal(Y1, Y1_copy)
    buffer.zero_grad()
    dX1, _ = back1(dY)
    g1 = buffer.grad.copy()
    buffer.zero_grad()
    Y_again, _, back_again = layer.run(X1)
    np.testing.assert_array_equal(Y_again, Y1_copy)
    np.testing.assert_array_equal(back_again(dY)[0], dX1)
    np.testing.assert_array_equal(buffer.grad, g1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kernel", KERNELS)
def test_saturated_gates_stay_finite(kernel, dtype):
    assert_saturated_gates_stay_finite(make(dtype=dtype, kernel=kernel)[0], D)


def test_lstm_and_gru_read_the_same_batches():
    """Interchangeable as encoders: same input checks, same output and summary shapes."""
    rng = np.random.default_rng(7)
    X, lengths = rng.normal(size=(5, 3, D)), np.array([5, 2, 1])
    shapes = []
    for make_cell in (lambda: LSTM(D, H), lambda: GRU(D, H)):
        layer = Bidirectional(make_cell)
        ParamBuffer(layer, np.float32, seed=0)
        Y, h_last, _ = layer.run(X, lengths)
        shapes.append((Y.shape, h_last.shape, Y.dtype))
        with pytest.raises(ValueError, match=r"expects inputs of shape \(T, B, 3\), got \(5, 3, 2\)"):
            layer.fwd.run(np.zeros((5, 3, 2)))
    assert shapes[0] == shapes[1] == ((5, 3, 2 * H), (3, 2 * H), np.float32)


# -- the compiled scans against their NumPy twins ------------------------------------------------------------

def scan_case(T, lengths, H, dtype, seed, reverse, shuffle, D=3):
    """Inputs of the scans in their layouts: sorted rows (ties in a random order when ``shuffle``), packed
    input products of the real positions, h0 and dL/dh_last in sorted row order."""
    rng = np.random.default_rng(seed)
    lengths = np.array(lengths, dtype=np.int64)
    B = len(lengths)
    order = np.argsort(-lengths, kind="stable")
    if shuffle:                                         # any order of equal lengths is a valid sorted order
        order = order[np.lexsort((rng.random(B), -lengths[order]))]
    sorted_lengths = np.ascontiguousarray(lengths[order])
    positions = [(sorted_lengths[i] - 1 - t if reverse else t) * B + order[i]
                 for t in range(int(sorted_lengths[0])) for i in np.flatnonzero(sorted_lengths > t)]
    X = rng.normal(size=(T, B, D)).astype(dtype)
    W = (0.7 * rng.normal(size=(D, 4 * H))).astype(dtype)
    return dict(A=X.reshape(T * B, D)[np.array(positions)] @ W, X=X, W=W,
                bias=rng.normal(size=4 * H).astype(dtype), U=(0.7 * rng.normal(size=(H, 4 * H))).astype(dtype),
                lengths=sorted_lengths, order=np.ascontiguousarray(order), reverse=reverse,
                h0=rng.normal(size=(B, H)).astype(dtype), dY=rng.normal(size=(T, B, H)).astype(dtype),
                dh_last=rng.normal(size=(B, H)).astype(dtype))


def run_scans(forward, backward, case, with_dy=True, per_step=False):
    """Both scans on ``case``; outputs NaN-filled first, so anything a kernel should write but misses shows."""
    A, U, X = case["A"], case["U"], case["X"]
    T, B, D = X.shape
    H, dtype, T_real = U.shape[0], A.dtype, int(case["lengths"][0])
    S = np.full((T_real + 1, B, H), np.nan, dtype)
    S[0] = case["h0"]
    C = np.full((T_real + 1, B, H), np.nan, dtype)
    IFOG, Tc = np.full((T_real, B, 4 * H), np.nan, dtype), np.full((T_real, B, H), np.nan, dtype)
    G, At, Xt = np.empty((B, 4 * H), dtype), np.empty((B, 4 * H), dtype), np.empty((B, D), dtype)
    wide = np.full((T, B, 2 * H), np.nan, dtype)
    Y = wide[:, :, H:]                                        # a strided view, as Bidirectional passes
    forward(None if per_step else A, X, case["W"], case["bias"], U, case["lengths"], case["order"],
            case["reverse"], S, C, IFOG, Tc, G, At, Xt, Y)
    N = int(case["lengths"].sum())
    dZ, Sp = np.full((N, 4 * H), np.nan, dtype), np.full((N, H), np.nan, dtype)
    dh, dc = case["dh_last"].copy(), np.full((2, B, H), np.nan, dtype)
    backward(case["dY"] if with_dy else None, U, IFOG, Tc, C, S, case["lengths"], case["order"],
             case["reverse"], dZ, Sp, dh, dc, np.full((4 * H, H), np.nan, dtype))
    return {"Y": Y, "S": S, "C": C, "dZ": dZ, "Sp": Sp, "dh0": dh}


@pytest.mark.parametrize("T, lengths", CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("per_step", [False, True])
def test_compiled_scans_match_their_numpy_twins(T, lengths, dtype, reverse, shuffle, per_step):
    case = scan_case(T, lengths, H=5, dtype=dtype, seed=len(lengths) * 10 + T, reverse=reverse, shuffle=shuffle)
    compiled = run_scans(lstm_scan_forward, lstm_scan_backward, case, per_step=per_step)
    twin = run_scans(lstm_scan_forward_numpy, lstm_scan_backward_numpy, case, per_step=per_step)
    hoisted = run_scans(lstm_scan_forward_numpy, lstm_scan_backward_numpy, case)
    tol = 2e-6 if dtype == np.float32 else 1e-13
    assert_scans_agree(compiled, twin, tol)
    assert_scans_agree(twin, hoisted, tol, finite=False)


@pytest.fixture(params=[0, 25000, 45000, None], ids=["whole", "pieces-a", "pieces-b", "default"])
def small_product(request):
    """Whether the steps' products are cut into gate blocks, set for one test: never, at limits that cut the
    products of H = 40 into 2 or 4 pieces depending on the step's rows, or the default."""
    old = _set_small_product(request.param) if request.param is not None else None
    yield request.param
    if old is not None:
        _set_small_product(old)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("H, B", [(40, 13), (17, 9), (8, 60)])
def test_scans_match_their_twins_at_larger_sizes(dtype, H, B, small_product):
    """Row loops of several vector widths and their tails (H = 40, 17, 8), many rows of uneven lengths, the
    steps' products whole or cut into gate blocks."""
    rng = np.random.default_rng(H * B)
    lengths = list(rng.integers(1, 12, size=B))
    lengths[0] = 12
    for per_step in (False, True):
        case = scan_case(14, lengths, H=H, dtype=dtype, seed=H + B, reverse=bool(B % 2), shuffle=True, D=11)
        compiled = run_scans(lstm_scan_forward, lstm_scan_backward, case, per_step=per_step)
        twin = run_scans(lstm_scan_forward_numpy, lstm_scan_backward_numpy, case, per_step=per_step)
        rtol, atol = (2e-5, 2e-5) if dtype == np.float32 else (1e-12, 1e-12)
        assert_scans_agree(compiled, twin, atol, rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scans_without_output_gradient(dtype):
    """dY None (the character encoder's summary): only dL/dh_last drives the gradients."""
    case = scan_case(5, [5, 2, 3], H=3, dtype=dtype, seed=3, reverse=True, shuffle=False)
    compiled = run_scans(lstm_scan_forward, lstm_scan_backward, case, with_dy=False)
    twin = run_scans(lstm_scan_forward_numpy, lstm_scan_backward_numpy, case, with_dy=False)
    assert np.any(compiled["dZ"] != 0)
    assert_scans_agree(compiled, twin, 2e-6, finite=False)


def test_scans_write_zero_at_padding():
    case = scan_case(6, [2, 4, 1], H=4, dtype=np.float64, seed=5, reverse=True, shuffle=False)
    out = run_scans(lstm_scan_forward, lstm_scan_backward, case)
    for b, L in enumerate([2, 4, 1]):
        assert np.all(out["Y"][L:, b] == 0)
    for t in range(4):
        k = int(np.sum(case["lengths"] > t))
        assert np.all(out["S"][t + 1, k:] == 0) and np.all(out["C"][t + 1, k:] == 0)
    assert np.all(out["C"][0] == 0)


@pytest.mark.parametrize("forward", [lstm_scan_forward, lstm_scan_forward_numpy], ids=["cython", "numpy"])
def test_scans_refuse_caches_of_the_wrong_size(forward):
    case = scan_case(3, [3, 2], H=2, dtype=np.float64, seed=1, reverse=False, shuffle=False)
    X, U = case["X"], case["U"]
    B, H = 2, 2
    S = np.zeros((4, B, H))
    if forward is lstm_scan_forward:                                  # the twin does not check the shapes
        with pytest.raises(ValueError, match="IFOG, Tc and C must hold 3, 3 and 4 steps"):
            forward(case["A"], X, case["W"], case["bias"], U, case["lengths"], case["order"], False, S,
                    np.zeros((3, B, H)), np.zeros((3, B, 4 * H)), np.zeros((3, B, H)), np.zeros((B, 4 * H)),
                    np.zeros((B, 4 * H)), np.zeros((B, 3)), np.zeros((3, B, H)))
    # prediction's one-step caches: backward refuses them
    C, IFOG, Tc = np.zeros((2, B, H)), np.zeros((1, B, 4 * H)), np.zeros((1, B, H))
    forward(case["A"], X, case["W"], case["bias"], U, case["lengths"], case["order"], False, S, C, IFOG, Tc,
            np.zeros((B, 4 * H)), np.zeros((B, 4 * H)), np.zeros((B, 3)), np.zeros((3, B, H)))
    backward = lstm_scan_backward if forward is lstm_scan_forward else lstm_scan_backward_numpy
    with pytest.raises(ValueError, match="kept no caches"):
        backward(None, U, IFOG, Tc, C, S, case["lengths"], case["order"], False, np.zeros((5, 4 * H)),
                 np.zeros((5, H)), np.zeros((B, H)), np.zeros((2, B, H)), np.zeros((4 * H, H)))


def test_float32_exponential_is_accurate_over_the_whole_clamped_range():
    x = np.concatenate([np.linspace(-80, 80, 20001), np.linspace(-1e-3, 1e-3, 101)]).astype(np.float32)
    got = np.array([_expf(float(v)) for v in x])
    want = np.exp(x.astype(np.float64))
    assert np.max(np.abs(got - want) / want) < 3e-7                    # a few float32 ulp
    assert _expf(1e4) == _expf(80.0) and _expf(-1e4) == _expf(-80.0)   # clamped: finite, normal
    assert np.isnan(_expf(float("nan")))


def test_float32_gates_match_float64_maths_over_a_wide_range():
    """One step from h0 = 0 and c = 0: h = sigmoid(z_o) tanh(sigmoid(z_i) tanh(z_g)) for z from -100 to 100;
    the float32 sigmoid and tanh of the compiled scan agree with float64 to 1e-6 everywhere, and saturate
    to exactly 0 far out (so saturated gates pass exactly zero gradient)."""
    z = np.concatenate([np.linspace(-100, 100, 2001), np.linspace(-0.01, 0.01, 201)])
    n = z.size
    layer = LSTM(4, 1)
    ParamBuffer(layer, np.float32, seed=0)
    layer.p["U"][:] = 0
    layer.p["b"][:] = 0
    layer.p["W"][:] = np.eye(4, dtype=np.float32)                       # z = x, gate by gate
    X = np.zeros((1, n, 4))
    X[0, :, 0] = 20.0                                                   # i = 1: c = g
    X[0, :, 2] = 20.0                                                   # o = 1: h = tanh(g)
    X[0, :, 3] = z
    Y, _, _ = layer.run(X.astype(np.float32))
    np.testing.assert_allclose(Y[0, :, 0], np.tanh(np.tanh(z)), rtol=0, atol=1e-6)
    X[0, :, 3] = 20.0                                                   # g = 1, o = 1: h = tanh(sigmoid(z_i))
    X[0, :, 0] = z
    Y, _, backprop = layer.run(X.astype(np.float32))
    np.testing.assert_allclose(Y[0, :, 0], np.tanh(1 / (1 + np.exp(-z))), rtol=0, atol=1e-6)
    dX, _ = backprop(np.ones_like(Y))
    assert np.all(dX[0, z < -18, 0] == 0) and np.all(dX[0, z > 18, 0] == 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_step_by_step_input_products_equal_the_hoisted_gemm(monkeypatch, dtype):
    """Prediction with x_t W inside the loop (large batches) equals one GEMM before it (small batches)."""
    rng = np.random.default_rng(6)
    lengths = np.array([3, 6, 1, 6, 2])
    X = rng.normal(size=(6, 5, D))
    out = []
    for min_batch in (10**9, 1):                      # never, always per step
        monkeypatch.setattr(lstm_module, "STEP_INPUT_MIN_BATCH", min_batch)
        layer = Bidirectional(lambda: LSTM(D, H))
        ParamBuffer(layer, dtype, seed=2)
        Y, h_last, _ = layer.run(X, lengths, grad=False)
        out.append((Y, h_last))
    tol = 1e-6 if dtype == np.float32 else 1e-13
    for a, b in zip(*out):
        np.testing.assert_allclose(a, b, rtol=0, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_both_kernels_give_the_same_layer_outputs_and_gradients(dtype):
    rng = np.random.default_rng(4)
    lengths = np.array([7, 1, 4, 7, 2])
    X, dY = rng.normal(size=(7, 5, 6)), rng.normal(size=(7, 5, 8))
    out = []
    for kernel in KERNELS:
        layer = Bidirectional(lambda: LSTM(6, 4, kernel=kernel))
        buffer = ParamBuffer(layer, dtype, seed=1)
        Y, h_last, backprop = layer.run(X, lengths)
        dX, dh0 = backprop(dY, np.ones_like(h_last))
        out.append((Y, h_last, dX, dh0, buffer.grad.copy()))
    tol = 1e-5 if dtype == np.float32 else 1e-13
    for a, b in zip(*out):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=0, atol=tol)


def test_unknown_kernel_is_reported():
    with pytest.raises(ValueError, match="kernel must be one of .* got 'fortran'"):
        LSTM(3, 4, kernel="fortran")


@pytest.mark.parametrize("kernel", KERNELS)
def test_final_states_only_write_no_outputs_and_equal_the_full_run(kernel):
    """``run(outputs=False)`` (a word summary from its characters): no Y, the same h_last, for both kernels."""
    layer, _ = make("bilstm", kernel=kernel)
    rng = np.random.default_rng(9)
    X, lengths = rng.normal(size=(6, 4, D)), np.array([4, 1, 6, 2])
    _, h_last, _ = layer.fwd.run(X, lengths, grad=False)
    Y_none, h_only, _ = layer.fwd.run(X, lengths, grad=False, outputs=False)
    assert Y_none is None
    np.testing.assert_array_equal(h_only, h_last)
    table, ids = rng.normal(size=(5, D)), rng.integers(0, 5, size=(6, 4))
    for reverse in (False, True):                                  # the character encoder's path at prediction
        np.testing.assert_allclose(layer.bwd.final_states_of_ids(ids, table, lengths, reverse=reverse),
                                   layer.bwd.run(table[ids], lengths, reverse=reverse, grad=False)[1],
                                   rtol=0, atol=1e-13)     # (table W looked up: products rounded apart)
