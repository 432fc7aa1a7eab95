"""The data layer: real corpora in, id arrays out.

=================  =====================================================================
module             job
=================  =====================================================================
``conll``          read (streaming, strict, with file:line errors) and write CoNLL files
``schemes``        IOB1 / IOB2 / BIOES: detection, conversion, spans, decoding constraints
``stats``          documents, sentences, tokens and entities per type of a corpus
``vocab``          token <-> id maps for words, characters and tags, saved as JSON
``embeddings``     GloVe / word2vec text vectors matched to a vocabulary, with coverage
``batches``        sentences -> ids -> padded time-major batches, bucketed by length
``text``           raw text: one sentence per line, tokens with character offsets
=================  =====================================================================
"""
from nertag.data.batches import Batch, Encoded, collate, encode_sentences, make_batches
from nertag.data.conll import DOCSTART, Sentence, load_conll, read_conll, sniff_delimiter, write_conll
from nertag.data.embeddings import Coverage, Embeddings, load_embeddings
from nertag.data.schemes import (
    SCHEMES,
    allowed_end,
    allowed_start,
    allowed_transitions,
    check_scheme,
    convert,
    detect_scheme,
    scheme_tags,
    spans_to_tags,
    split_tag,
    tags_to_spans,
)
from nertag.data.stats import CorpusStats, corpus_stats
from nertag.data.text import TextLine, Token, read_text, tokenize
from nertag.data.vocab import PAD, UNK, Vocab, normalise_digits

__all__ = [
    "DOCSTART",
    "PAD",
    "SCHEMES",
    "UNK",
    "Batch",
    "CorpusStats",
    "Coverage",
    "Embeddings",
    "Encoded",
    "Sentence",
    "TextLine",
    "Token",
    "Vocab",
    "allowed_end",
    "allowed_start",
    "allowed_transitions",
    "check_scheme",
    "collate",
    "convert",
    "corpus_stats",
    "detect_scheme",
    "encode_sentences",
    "load_conll",
    "load_embeddings",
    "make_batches",
    "normalise_digits",
    "read_conll",
    "read_text",
    "scheme_tags",
    "sniff_delimiter",
    "spans_to_tags",
    "split_tag",
    "tags_to_spans",
    "tokenize",
    "write_conll",
]
