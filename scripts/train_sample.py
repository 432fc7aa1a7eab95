"""A sample training run of the framework: an MLP on a synthetic two-ring task, printing its loss."""
import numpy as np

from nertag.net import Dense, ParamBuffer, Sequential, SoftmaxCrossEntropy
from nertag.net.optim import Adam


def main() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 2)).astype(np.float32)
    y = (np.hypot(X[:, 0], X[:, 1]) > 1.0).astype(np.int64)
    net = Sequential(Dense(2, 32, "tanh"), Dense(32, 2))
    buffer = ParamBuffer(net, np.float32, seed=0)
    opt, out = Adam(buffer, 0.02), SoftmaxCrossEntropy()
    for epoch in range(1, 11):
        order, total = rng.permutation(len(X)), 0.0
        for start in range(0, len(X), 50):
            batch = order[start:start + 50]
            buffer.zero_grad()
            Y, backprop = net.forward(X[batch], rng=rng)
            loss, dY = out.loss(Y, y[batch])
            backprop(dY / len(batch))
            opt.step()
            total += loss
        accuracy = np.mean(out.predict(net(X)) == y)
        print(f"epoch {epoch:2d}  loss {total / len(X):.4f}  accuracy {accuracy:.3f}")


if __name__ == "__main__":
    main()
