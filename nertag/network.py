"""The tagger network: word embedding + char-BiGRU summary -> dropout -> BiGRU -> dropout -> dense -> CRF.

Notation
--------
T, B          padded sentence length, batch size (time-major batches, see ``nertag.data.batches``)
N             number of real words in the batch;  C the longest word in characters
w_t           word embedding (T, B, Dw)
c_t           [h_fwd_last ; h_bwd_last] of a BiGRU over the word's characters (T, B, 2Hc), 0 at padding
x_t           dropout([w_t ; c_t])        (T, B, Dw + 2Hc)
h_t           dropout(BiGRU(x)_t)         (T, B, 2H)
E             h W + b                      (T, B, K) emission scores of the CRF

The recurrent cells are GRUs unless ``config.cell`` / ``config.char_encoder`` say ``lstm`` (Lample et al.'s
BiLSTM-CRF with a character BiLSTM); ``char_encoder="cnn"`` summarises a word by ``char_hidden`` filters of
``char_window`` characters, max over its characters (Ma and Hovy's CNN). Models saved before these options
existed are GRU models.

Backward runs the same steps in reverse: dE -> dh -> dx -> (dw, dc) -> char BiGRU -> char embeddings.

Every layer gets the batch's layout (``batch.padded``, for the characters ``batch.char_padded``), built and
validated once by the data layer, in place of raw lengths.

References
----------
Lample et al. (2016), Neural architectures for named entity recognition (the architecture, with LSTMs).
Cho et al. (2014) for the GRU; Lafferty et al. (2001) for the CRF.
"""
from __future__ import annotations

import numpy as np

from .config import Config
from .data.batches import Batch
from .net.bidirectional import Bidirectional
from .net.crf import CRF
from .net.dense import Dense
from .net.dropout import Dropout
from .net.embedding import Embedding
from .net.gru import GRU, limit_scan_threads
from .net.layer import Layer
from .net.conv import Conv1D, MaxOverTime
from .net.lstm import LSTM
from .net.sequential import Sequential

CELLS = {"gru": GRU, "lstm": LSTM}  # config.cell and config.char_encoder


class TaggerNet(Layer):
    """The whole tagging network as one layer tree, so one :class:`ParamBuffer` holds all of it.

    Parameters
    ----------
    config : Config
    n_words, n_chars, n_tags : int
        Vocabulary sizes.
    constraints : tuple of bool arrays (allowed (K, K), allowed_start (K,), allowed_end (K,)), optional
        Transitions the tag scheme allows; decoding forbids the rest.
    """

    def __init__(self, config: Config, n_words: int, n_chars: int, n_tags: int, constraints=None):
        super().__init__()
        limit_scan_threads(1)                     # the scans' small per-step GEMMs: see limit_scan_threads
        self.config = config
        self.words = self.add(Embedding(n_words, config.word_dim))
        features = config.word_dim
        self.use_chars = config.char_dim > 0
        if self.use_chars:
            self.chars = self.add(Embedding(n_chars, config.char_dim))
            if config.char_encoder == "cnn":  # Ma and Hovy (2016): filters over the characters, max over time
                self.char_cnn = self.add(Sequential(Conv1D(config.char_dim, config.char_hidden, config.char_window,
                                                           "tanh"), MaxOverTime()))
                features += config.char_hidden
                self.char_features = config.char_hidden
            else:
                char_cell = CELLS[config.char_encoder]
                self.char_rnn = self.add(Bidirectional(lambda: char_cell(config.char_dim, config.char_hidden)))
                features += 2 * config.char_hidden
                self.char_features = 2 * config.char_hidden
        self.dropout = Dropout(config.dropout)
        cell = CELLS[config.cell]
        self.rnn = self.add(Bidirectional(lambda: cell(features, config.hidden)))
        self.project = self.add(Dense(2 * config.hidden, n_tags))
        self.crf = self.add(CRF(n_tags, constraints))

    def _char_features(self, batch: Batch, rng, grad: bool = True):
        """[h_fwd_last ; h_bwd_last] of the char BiGRU per real word, scattered to (T, B, 2Hc)."""
        t_idx, b_idx = batch.padded.real                                    # N real words
        char_ids = np.ascontiguousarray(batch.chars[t_idx, b_idx].T)        # (C, N)
        words = batch.char_padded                                           # N words of 1..C characters
        T, B = batch.words.shape
        features = np.zeros((T, B, self.char_features), dtype=self.chars.p["W"].dtype)  # (T, B, 2Hc)
        if not grad and self.config.char_encoder != "cnn":   # prediction: x W of a character is looked up
            features[t_idx, b_idx] = self.char_rnn.final_states_of_ids(char_ids, self.chars.p["W"], words)
            return features, None
        embedded, back_embed = self.chars.forward(char_ids, words, rng)     # (C, N, Dc)
        if self.config.char_encoder == "cnn":
            # Ma and Hovy (2016) drop character embeddings before the CNN (the recurrent encoders, as in
            # Lample et al. 2016, read them as they are)
            dropped, back_drop = self.dropout.forward(embedded, words, rng)
            summary, back_filters = self.char_cnn.forward(dropped, words, rng)      # (N, F)

            def back_encoder(d_summary):
                return back_drop(back_filters(d_summary))
        else:
            _, summary, back_rnn = self.char_rnn.run(embedded, words, grad=grad, outputs=False)   # (N, 2Hc)

            def back_encoder(d_summary):
                return back_rnn(None, d_summary)[0]
        features[t_idx, b_idx] = summary

        def backprop(d_features):
            back_embed(back_encoder(d_features[t_idx, b_idx]))

        return features, backprop

    def emissions(self, batch: Batch, rng=None, words: np.ndarray | None = None, *, grad: bool = True):
        """Emission scores ``E (T, B, K)`` and ``backprop(dE)``.

        ``words`` replaces ``batch.words`` (training replaces singletons by <unk>); ``rng=None`` predicts.
        ``grad=False``: no backward pass will follow, so the recurrent layers keep no caches for one (the
        returned ``backprop`` then raises).
        """
        lengths = batch.padded
        w, back_words = self.words.forward(batch.words if words is None else words, lengths, rng)  # (T, B, Dw)
        if self.use_chars:
            c, back_chars = self._char_features(batch, rng, grad)
            x = np.concatenate([w, c], axis=2)                              # (T, B, Dw + 2Hc)
        else:
            x = w
        x, back_drop_x = self.dropout.forward(x, lengths, rng)
        h, _, back_rnn = self.rnn.run(x, lengths, grad=grad)                # (T, B, 2H)
        h, back_drop_h = self.dropout.forward(h, lengths, rng)
        E, back_project = self.project.forward(h, lengths, rng)             # (T, B, K)

        def backprop(dE):
            dx = back_drop_x(back_rnn(back_drop_h(back_project(dE)))[0])
            Dw = self.config.word_dim
            if not self.config.freeze_words:
                back_words(dx[:, :, :Dw])
            if self.use_chars:
                back_chars(dx[:, :, Dw:])

        return E, backprop

    def loss(self, batch: Batch, rng=None, words: np.ndarray | None = None) -> float:
        """CRF negative log-likelihood summed over the batch; accumulates all gradients."""
        E, backprop = self.emissions(batch, rng, words)
        loss, dE = self.crf.loss(E, batch.tags, batch.padded)
        backprop(dE)
        return loss

    def decode(self, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
        """Viterbi tag ids ``(T, B)`` and the emission scores they came from."""
        E, _ = self.emissions(batch, grad=False)
        return self.crf.predict(E, batch.padded), E
