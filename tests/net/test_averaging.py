"""The moving average of the parameter buffer: its formula, the swap in and out, its saved state."""
import numpy as np
import pytest

from nertag.net import Dense, ParamBuffer
from nertag.net.averaging import ParameterAverage
from nertag.net.embedding import Embedding
from nertag.net.layer import Layer


def buffer():
    return ParamBuffer(Dense(3, 2), dtype=np.float64, seed=0)


def test_update_follows_the_formula_with_the_warm_up():
    buf = buffer()
    average = ParameterAverage(buf, 0.9)
    rng = np.random.default_rng(1)
    expected = buf.data.copy()
    for n in range(100):
        buf.data[...] = rng.normal(size=buf.data.size)
        average.update()
        d = min(0.9, (1 + n) / (10 + n))  # 0.1, 0.18, ... then 0.9 from n = 80 on
        expected = d * expected + (1 - d) * buf.data
        np.testing.assert_allclose(average.average, expected, rtol=1e-12)
    assert average.n == 100


def test_swapped_shows_the_average_and_restores_the_trained_values_exactly():
    buf = buffer()
    average = ParameterAverage(buf, 0.999)
    view = buf.root.p["W"]  # layers hold views: the swap must be in place
    buf.data[...] = np.random.default_rng(2).normal(size=buf.data.size)
    average.update()
    trained = buf.data.copy()
    with average.swapped():
        np.testing.assert_array_equal(buf.data, average.average)
        np.testing.assert_array_equal(view.ravel(), average.average[: view.size])
    np.testing.assert_array_equal(buf.data, trained)
    with pytest.raises(RuntimeError), average.swapped():
        raise RuntimeError("evaluation failed")
    np.testing.assert_array_equal(buf.data, trained)


def test_state_round_trip_and_refusals():
    buf = buffer()
    first = ParameterAverage(buf, 0.99)
    buf.data += 1.0
    first.update()
    second = ParameterAverage(buffer(), 0.99)
    second.load_state_dict(first.state_dict())
    np.testing.assert_array_equal(second.average, first.average)
    assert second.n == 1
    with pytest.raises(ValueError, match="expected the arrays"):
        second.load_state_dict({"average": first.average})
    state = first.state_dict()
    state["rows_since"] = np.array([], dtype=np.int64)        # a Dense buffer has no sparse rows
    second.load_state_dict(state)
    with pytest.raises(ValueError, match="shape"):
        second.load_state_dict({"average": first.average[:-1], "n": np.array(1)})
    for decay in (0.0, 1.0, -0.5):
        with pytest.raises(ValueError, match="decay"):
            ParameterAverage(buf, decay)


class _Net(Layer):
    """A dense layer and two sparse tables, the shapes of a tagger in miniature."""

    def __init__(self):
        super().__init__()
        self.dense = self.add(Dense(3, 2))
        self.words = self.add(Embedding(40, 4))
        self.chars = self.add(Embedding(7, 3))


def _sparse_steps(buf, rng, steps, touch=5):
    """Steps as an optimiser takes them: every dense entry moves, sparse rows only where marked touched."""
    for _ in range(steps):
        buf.grad_rows[:] = False
        buf.grad_rows[rng.choice(buf.grad_rows.size, size=touch, replace=False)] = True
        buf.data[: buf.n_dense] += rng.normal(size=buf.n_dense)
        start, offset = 0, buf.n_dense
        for b in buf.sparse:
            rows = np.flatnonzero(buf.grad_rows[start: start + b.spec.shape[0]])
            table = buf.data[offset: offset + b.spec.size].reshape(b.spec.shape)
            table[rows] += rng.normal(size=(rows.size, b.spec.shape[1]))
            start += b.spec.shape[0]
            offset += b.spec.size
        yield


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 2e-4)])
def test_lazy_sparse_rows_equal_the_eager_average(dtype, rtol):
    buf = ParamBuffer(_Net(), dtype=dtype, seed=0)
    average = ParameterAverage(buf, 0.95)
    expected = buf.data.astype(np.float64)
    rng = np.random.default_rng(3)
    for n, _ in enumerate(_sparse_steps(buf, rng, 120)):
        average.update()
        d = min(0.95, (1 + n) / (10 + n))
        expected = d * expected + (1 - d) * buf.data                  # every entry, every step
        if n % 17 == 0:                                               # read now and then, as dev evaluation does
            np.testing.assert_allclose(average.average, expected, rtol=rtol, atol=rtol)
    trained = buf.data.copy()
    with average.swapped():
        np.testing.assert_allclose(buf.data, expected, rtol=rtol, atol=rtol)
        np.testing.assert_array_equal(buf.data, average.state_dict()["average"])
    np.testing.assert_array_equal(buf.data, trained)
    assert np.any(average._since < average.n)                         # some rows were really left behind


def test_lazy_average_resumes_bit_identically():
    def run(cut):
        buf = ParamBuffer(_Net(), dtype=np.float32, seed=0)
        average = ParameterAverage(buf, 0.9)
        rng = np.random.default_rng(5)
        for n, _ in enumerate(_sparse_steps(buf, rng, 60)):
            average.update()
            if n == cut:                                              # save and restore into a fresh average
                state = {k: v.copy() for k, v in average.state_dict().items()}
                average = ParameterAverage(buf, 0.9)
                average.load_state_dict(state)
        return average.state_dict()

    whole, resumed = run(cut=-1), run(cut=23)
    for key in whole:
        np.testing.assert_array_equal(resumed[key], whole[key], err_msg=key)


def test_an_eager_average_state_loads_as_caught_up():
    buf = ParamBuffer(_Net(), dtype=np.float64, seed=0)
    average = ParameterAverage(buf, 0.9)
    for _ in _sparse_steps(buf, np.random.default_rng(1), 7):
        average.update()
    eager = {"average": average.average, "n": np.array(7)}
    other = ParameterAverage(buf, 0.9)
    other.load_state_dict(eager)
    np.testing.assert_array_equal(other.average, eager["average"])
    assert other.n == 7 and np.all(other._since == 7)
    with pytest.raises(ValueError, match="caught up to updates"):
        other.load_state_dict({**average.state_dict(), "rows_since": np.full(average._since.shape, 8)})


def test_average_kernels_give_the_same_bits():
    results = []
    for kernel in ("cython", "numpy"):
        buf = ParamBuffer(Dense(3, 2), dtype=np.float32, seed=0)
        average = ParameterAverage(buf, 0.99, kernel=kernel)
        rng = np.random.default_rng(1)
        for _ in range(30):
            buf.data[...] = rng.normal(size=buf.data.size)
            average.update()
        results.append(average.average)
    np.testing.assert_array_equal(results[0], results[1])
