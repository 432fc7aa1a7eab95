"""Training data from a teacher: sequence-level knowledge distillation (Kim and Rush 2016).

A teacher (one model, or an ensemble of several: :mod:`nertag.ensemble`) tags sentences, and its tag
sequences become training targets for a student beside the gold ones: the gold training sentences once
with their own tags and once with the teacher's, and sentences without tags (``--unlabeled``) with the
teacher's only. The student is then trained as any model is, at the cost of one model when it tags;
from an ensemble it learns the ensemble's decisions, including on text no annotator labelled.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from .data.conll import Sentence
from .tagger import Tagger


def teacher_tagged(teacher: Tagger, sentences: Sequence[Sentence], scheme: str, batch_size: int = 64) -> list[Sentence]:
    """Copies of ``sentences`` whose tags are the teacher's, in ``scheme`` (that of the gold data).

    Each copy keeps its words, document and line (so errors in it point at its file); its columns are the
    word and the teacher's tag.
    """
    tagged = teacher.tag_sentences(sentences, batch_size, scheme=scheme, confidence=False)
    return [dataclasses.replace(s, tags=list(t.tags), columns=[[w, tag] for w, tag in zip(s.words, t.tags)])
            for s, t in zip(sentences, tagged)]


def distillation_data(teacher: Tagger, gold: Sequence[Sentence], unlabeled: Sequence[Sentence], scheme: str,
                      batch_size: int = 64) -> list[Sentence]:
    """The student's training data: ``gold`` as it is, then the teacher's tags of ``gold`` and of ``unlabeled``."""
    return [*gold, *teacher_tagged(teacher, [*gold, *unlabeled], scheme, batch_size)]
