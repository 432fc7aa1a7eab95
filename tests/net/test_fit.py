"""nertag.net.fit (in nertag/net/fitting.py): mini-batch and full-batch training, seeding, reports, held-out
evaluation, early stopping."""
import numpy as np
import pytest

from nertag.net import GRU, Dense, Dropout, Embedding, ParamBuffer, Sequential, SoftmaxCrossEntropy, SquaredError
from nertag.net.fitting import NonFiniteLoss, Patience, fit, minibatches, train_step
from nertag.net.optim import SGD, Adam
from nertag.net.schedules import OneCycle


def blobs(n=120, seed=0):
    """Three Gaussian classes in 2-D."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    centres = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    return centres[y] + 0.6 * rng.normal(size=(n, 2)), y


def mlp(seed=0, dropout=0.0):
    net = Sequential(Dense(2, 16, "tanh"), Dropout(dropout), Dense(16, 3))
    return net, ParamBuffer(net, np.float64, seed=seed)


def accuracy(scores, y):
    return float(np.mean(scores.argmax(-1) == y))


def test_minibatches_cover_every_example_once():
    rng = np.random.default_rng(0)
    batches = minibatches(10, 3, rng)
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))
    assert [b.tolist() for b in minibatches(5, None, None)] == [[0, 1, 2, 3, 4]]
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        minibatches(5, 0, None)


def test_mini_batch_training_lowers_the_loss_and_learns_the_classes():
    X, y = blobs()
    net, buffer = mlp()
    result = fit(net, SoftmaxCrossEntropy(), buffer, X, y, optimizer=Adam(buffer, 0.01), epochs=15, batch_size=16)
    losses = [row["loss"] for row in result.history]
    assert losses[-1] < 0.3 * losses[0]
    assert accuracy(net(X), y) > 0.9
    assert result.steps == 15 * 8 and result.stopped == "finished"


def test_full_batch_takes_one_step_per_epoch_on_the_mean_gradient():
    X, y = blobs(n=40)
    net, buffer = mlp()
    result = fit(net, SoftmaxCrossEntropy(), buffer, X, y, optimizer=SGD(buffer, 0.5), epochs=3, batch_size=None,
                 shuffle=False)  # a shuffled full batch would only reorder the sums
    assert result.steps == 3
    # the same three steps by hand: gradient of the mean loss
    net2, buffer2 = mlp()
    opt = SGD(buffer2, 0.5)
    loss = SoftmaxCrossEntropy()
    for _ in range(3):
        buffer2.zero_grad()
        Y, backprop = net2.forward(X, None, np.random.default_rng(0))
        value, dY = loss.loss(Y, y)
        backprop(dY * (1.0 / len(X)))  # fit multiplies by 1 / B
        opt.step()
    np.testing.assert_array_equal(buffer.data, buffer2.data)


def test_mean_false_follows_the_summed_loss():
    X, y = blobs(n=40)
    a_net, a = mlp()
    b_net, b = mlp()
    fit(a_net, SoftmaxCrossEntropy(), a, X, y, optimizer=SGD(a, 0.5 / 40), epochs=1, batch_size=None, mean=False)
    fit(b_net, SoftmaxCrossEntropy(), b, X, y, optimizer=SGD(b, 0.5), epochs=1, batch_size=None)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-12)


def test_same_seed_same_parameters_other_seed_other_order():
    X, y = blobs()

    def run(seed):
        net, buffer = mlp(dropout=0.2)
        fit(net, SoftmaxCrossEntropy(), buffer, X, y, optimizer=Adam(buffer, 0.01), epochs=2, batch_size=10, seed=seed)
        return buffer.data.copy()

    np.testing.assert_array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))


def test_continuing_with_initial_epoch_equals_one_run():
    X, y = blobs()
    net, buffer = mlp(dropout=0.2)
    opt = Adam(buffer, OneCycle(0.02, total=40, warmup=8, momentum=(0.95, 0.85)), clip_norm=1.0)
    fit(net, SoftmaxCrossEntropy(), buffer, X, y, optimizer=opt, epochs=4, batch_size=12, seed=5)
    net2, buffer2 = mlp(dropout=0.2)
    opt2 = Adam(buffer2, OneCycle(0.02, total=40, warmup=8, momentum=(0.95, 0.85)), clip_norm=1.0)
    fit(net2, SoftmaxCrossEntropy(), buffer2, X, y, optimizer=opt2, epochs=2, batch_size=12, seed=5)
    fit(net2, SoftmaxCrossEntropy(), buffer2, X, y, optimizer=opt2, epochs=4, initial_epoch=2, batch_size=12, seed=5)
    np.testing.assert_array_equal(buffer.data, buffer2.data)


def test_periodic_reports_and_held_out_metric():
    X, y = blobs()
    Xv, yv = blobs(n=60, seed=1)
    net, buffer = mlp()
    lines = []
    result = fit(net, SoftmaxCrossEntropy(), buffer, X, y, optimizer=Adam(buffer, 0.01), epochs=4, batch_size=20,
                 report_every=4, validation=(Xv, yv), metric=accuracy, eval_every=2, log=lines.append)
    assert [r["step"] for r in result.reports] == [4, 8, 12, 16, 20, 24]
    assert result.reports[-1]["loss"] < result.reports[0]["loss"]
    assert ["val_loss" in row for row in result.history] == [False, True, False, True]
    assert result.history[-1]["val_metric"] == pytest.approx(accuracy(net(Xv), yv))
    assert any(line.startswith("step 4 (epoch 1): loss ") for line in lines)
    assert any(line.startswith("epoch 4: loss ") and "val_metric" in line for line in lines)


def test_early_stopping_restores_the_best_parameters():
    X, y = blobs(n=60)
    Xv, yv = blobs(n=60, seed=1)
    yv = (yv + 1) % 3  # held-out labels the training data contradicts: the held-out loss rises
    net, buffer = mlp()
    snapshots = {}

    def keep(event, info):
        if event == "epoch":
            snapshots[info["epoch"]] = buffer.data.copy()

    result = fit(net, SoftmaxCrossEntropy(), buffer, X, y, optimizer=Adam(buffer, 0.01), epochs=50, batch_size=10,
                 validation=(Xv, yv), patience=3, callbacks=[keep])
    assert result.stopped == "early-stopped"
    assert len(result.history) == result.best_epoch + 3
    losses = [row["val_loss"] for row in result.history]
    assert result.best == min(losses) == losses[result.best_epoch - 1]
    np.testing.assert_array_equal(buffer.data, snapshots[result.best_epoch])
    assert not np.array_equal(buffer.data, snapshots[len(result.history)])


def test_early_stopping_on_the_metric():
    X, y = blobs()
    Xv, yv = blobs(n=60, seed=1)
    net, buffer = mlp()
    result = fit(net, SoftmaxCrossEntropy(), buffer, X, y, optimizer=Adam(buffer, 0.05), epochs=60, batch_size=20,
                 validation=(Xv, yv), metric=accuracy, monitor="val_metric", patience=2)
    metrics = [row["val_metric"] for row in result.history]
    assert result.stopped == "early-stopped" and result.best == max(metrics)
    assert accuracy(net(Xv), yv) == result.best


def test_a_callback_can_stop_training():
    X, y = blobs()
    net, buffer = mlp()
    seen = []
    result = fit(net, SoftmaxCrossEntropy(), buffer, X, y, epochs=5, batch_size=10,
                 callbacks=[lambda event, info: seen.append((event, info.get("step"))) or len(seen) == 7])
    assert result.stopped == "callback" and result.steps == 7
    assert seen[:2] == [("step", 1), ("step", 2)]


def test_regression_with_squared_error():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 3))
    y = X @ np.array([[1.0], [-2.0], [0.5]]) + 0.3
    net = Sequential(Dense(3, 1))
    buffer = ParamBuffer(net, np.float64)
    result = fit(net, SquaredError(), buffer, X, y, optimizer=SGD(buffer, 0.1), epochs=30, batch_size=20)
    assert result.history[-1]["loss"] < 1e-6
    np.testing.assert_allclose(net.children[0].p["W"].ravel(), [1.0, -2.0, 0.5], atol=1e-3)


def test_time_major_sequences_with_lengths():
    """A GRU tagger over (T, B) ids: batches are cut along axis 1 with their lengths."""
    rng = np.random.default_rng(0)
    T, N = 6, 40
    ids = rng.integers(1, 5, size=(T, N))
    lengths = rng.integers(2, T + 1, size=N)
    target = (ids % 2).astype(np.int64)  # tag = parity of the token
    net = Sequential(Embedding(5, 4), GRU(4, 8), Dense(8, 2))
    buffer = ParamBuffer(net, np.float64)
    result = fit(net, SoftmaxCrossEntropy(), buffer, ids, target, lengths, optimizer=Adam(buffer, 0.05), epochs=15,
                 batch_size=8, batch_axis=1)
    assert result.history[-1]["loss"] < 0.2 * result.history[0]["loss"]


def test_bad_arguments_are_refused():
    X, y = blobs(n=10)
    net, buffer = mlp()
    with pytest.raises(ValueError, match="needs held-out data"):
        fit(net, SoftmaxCrossEntropy(), buffer, X, y, patience=2)
    with pytest.raises(ValueError, match="monitor='val_metric' needs a metric"):
        fit(net, SoftmaxCrossEntropy(), buffer, X, y, validation=(X, y), monitor="val_metric")
    with pytest.raises(ValueError, match="training data: inputs hold 10 examples along axis 0, targets 9"):
        fit(net, SoftmaxCrossEntropy(), buffer, X, y[:9])


def test_train_step_refuses_a_non_finite_loss_and_leaves_the_parameters():
    net, buffer = mlp()
    before = buffer.data.copy()
    with pytest.raises(NonFiniteLoss, match="the loss is nan"):
        train_step(buffer, SGD(buffer, 0.1), lambda: float("nan"))
    np.testing.assert_array_equal(buffer.data, before)


def test_patience_counts_and_floors():
    watch = Patience(2, maximize=True, floor=0.0)
    assert [watch.record(e, s) for e, s in enumerate([0.0, 3.0, 2.0, 3.0], 1)] == [False, True, False, False]
    assert watch.best == 3.0 and watch.best_epoch == 2 and watch.should_stop
    losses = Patience(None, maximize=False)
    assert [losses.record(e, s) for e, s in enumerate([5.0, 4.0, 4.5], 1)] == [True, True, False]
    assert not losses.should_stop
