"""The moving average of the parameter buffer: its formula, the swap in and out, its saved state."""
import numpy as np
import pytest

from nertag.net import Dense, ParamBuffer
from nertag.net.averaging import ParameterAverage


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
    with pytest.raises(ValueError, match="shape"):
        second.load_state_dict({"average": first.average[:-1], "n": np.array(1)})
    for decay in (0.0, 1.0, -0.5):
        with pytest.raises(ValueError, match="decay"):
            ParameterAverage(buf, decay)
