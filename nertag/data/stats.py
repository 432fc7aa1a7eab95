"""Corpus statistics as data READMEs report them: documents, sentences, tokens, entities per type."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from nertag.data.conll import Sentence
from nertag.data.schemes import tags_to_spans


@dataclass(frozen=True)
class CorpusStats:
    """Counts for one corpus; entities are chunks by conlleval's rule (valid for IOB1, IOB2 and BIOES)."""

    docs: int
    sentences: int
    tokens: int
    entities: dict[str, int] = field(default_factory=dict)

    @property
    def n_entities(self) -> int:
        return sum(self.entities.values())

    def __str__(self) -> str:
        types = ", ".join(f"{t} {n:,}" for t, n in sorted(self.entities.items(), key=lambda item: -item[1]))
        return (
            f"{self.docs:,} docs, {self.sentences:,} sentences, {self.tokens:,} tokens, "
            f"{self.n_entities:,} entities ({types or 'none'})"
        )


def corpus_stats(sentences: Iterable[Sentence]) -> CorpusStats:
    """Count documents, sentences, tokens and entities per type (entities only for tagged sentences)."""
    docs: set[int] = set()
    n_sentences = n_tokens = 0
    entities: Counter[str] = Counter()
    for sentence in sentences:
        docs.add(sentence.doc)
        n_sentences += 1
        n_tokens += len(sentence.words)
        if sentence.tags is not None:
            entities.update(typ for _, _, typ in tags_to_spans(sentence.tags))
    return CorpusStats(len(docs), n_sentences, n_tokens, dict(entities))
