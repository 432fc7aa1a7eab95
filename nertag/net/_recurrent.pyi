import numpy as np

def gru_scan_forward(A: np.ndarray | None, X: np.ndarray, W: np.ndarray, bias: np.ndarray, U: np.ndarray,
                     c_n: np.ndarray, lengths: np.ndarray, order: np.ndarray, reverse: bool, S: np.ndarray,
                     RZN: np.ndarray, Gn: np.ndarray, G: np.ndarray, At: np.ndarray, Xt: np.ndarray,
                     Y: np.ndarray) -> None: ...
def gru_scan_backward(dY: np.ndarray | None, U: np.ndarray, RZN: np.ndarray, Gn: np.ndarray, S: np.ndarray,
                      lengths: np.ndarray, order: np.ndarray, reverse: bool, dG: np.ndarray, dA: np.ndarray,
                      Sp: np.ndarray, dh: np.ndarray, UT: np.ndarray) -> None: ...
def _set_own_gemm(max_rows: int, min_bytes: int) -> tuple[int, int]: ...
