import numpy as np

def forward_backward(
    E: np.ndarray,
    lengths: np.ndarray,
    A: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    marginals_out: np.ndarray,
    pair_sum_out: np.ndarray,
) -> np.ndarray: ...
def viterbi(
    E: np.ndarray,
    lengths: np.ndarray,
    A: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]: ...
def span_log_probability(
    E: np.ndarray,
    lengths: np.ndarray,
    A: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
    tags: np.ndarray,
    spans: np.ndarray,
) -> np.ndarray: ...
