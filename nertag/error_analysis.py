"""Error analysis of predicted entities against gold: what went wrong, counted once per entity.

Entities of one sentence are grouped by overlap: gold and predicted spans that overlap, directly or through a
chain of overlaps, form one group (spans of one side never overlap each other, so every overlap links a gold
entity to a predicted one). Each group falls in exactly one category, and so does each of its entities:

=====================  ====================================================================================
category               the group
=====================  ====================================================================================
``correct``            one gold and one predicted entity, same span, same type
``type``               one gold and one predicted entity, same span, different types (a type confusion)
``boundary``           overlapping entities, all of one type, spans that differ
``type_and_boundary``  overlapping entities of more than one type, spans that differ
``missed``             one gold entity, no prediction overlaps it
``spurious``           one predicted entity, no gold entity overlaps it
=====================  ====================================================================================

A boundary group (or a type-and-boundary one) is of one kind: ``longer`` (one prediction covers the gold
entity and more), ``shorter`` (one prediction covers part of it), ``shifted`` (each has words the other
lacks), ``split`` (one gold entity, several predictions), ``merged`` (several gold entities, one prediction)
or ``tangled`` (several of each).

The counts therefore add up: the gold entities of all categories are the gold entities, and so for
predictions. Spans are read by conlleval's chunk rule (:func:`nertag.data.schemes.tags_to_spans`), the rule
that :func:`nertag.evaluate.entity_scores` scores by default, so ``correct`` is its true positives.
"""
from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from .data.schemes import Span, check_scheme, tags_to_spans
from .evaluate import format_table

CATEGORIES = ("correct", "type", "boundary", "type_and_boundary", "missed", "spurious")
KINDS = ("longer", "shorter", "shifted", "split", "merged", "tangled")
LABELS = {"correct": "correct", "type": "wrong type", "boundary": "wrong boundary",
          "type_and_boundary": "wrong type and boundary", "missed": "missed", "spurious": "spurious"}
CONTEXT = 6  # words shown either side of an example's entities


@dataclass(frozen=True)
class Group:
    """Overlapping gold and predicted entities of one sentence, and what they are.

    Attributes
    ----------
    category : str
        One of `CATEGORIES`.
    kind : str or None
        One of `KINDS` for ``boundary`` and ``type_and_boundary``, else None.
    gold, predicted : tuple of (start, end, type)
        The group's spans, ``end`` exclusive, in token indices of the sentence.
    """

    category: str
    kind: str | None
    gold: tuple[Span, ...]
    predicted: tuple[Span, ...]


@dataclass(frozen=True)
class Example:
    """A group shown in its sentence: file line, words, and the group's gold and predicted spans."""

    line: int
    words: tuple[str, ...]
    group: Group

    def to_dict(self) -> dict:
        return {"line": self.line, "kind": self.group.kind, "words": list(self.words),
                "gold": [list(s) for s in self.group.gold], "predicted": [list(s) for s in self.group.predicted]}


@dataclass
class Count:
    """Entities in a category: gold ones and predicted ones."""

    gold: int = 0
    predicted: int = 0

    def add(self, group: Group) -> None:
        self.gold += len(group.gold)
        self.predicted += len(group.predicted)


@dataclass
class ErrorReport:
    """Every gold and predicted entity of a corpus, counted once in a category.

    Attributes
    ----------
    gold, predicted : int
        Entities in all.
    categories : dict of str to Count
        Per category of `CATEGORIES` (all present, in that order).
    kinds : dict of str to dict of str to Count
        For ``boundary`` and ``type_and_boundary``: per kind of `KINDS` met.
    types : dict of str to dict of str to Count
        Per entity type, per category: gold entities of that type and predicted entities of that type.
    confusions : Counter of (str, str)
        Type confusions (right span, wrong type) by (gold type, predicted type).
    examples : dict of str to list of Example
        The first few groups of each category, in corpus order.
    """

    gold: int = 0
    predicted: int = 0
    categories: dict[str, Count] = field(default_factory=lambda: {c: Count() for c in CATEGORIES})
    kinds: dict[str, dict[str, Count]] = field(default_factory=dict)
    types: dict[str, dict[str, Count]] = field(default_factory=dict)
    confusions: Counter = field(default_factory=Counter)
    examples: dict[str, list[Example]] = field(default_factory=lambda: {c: [] for c in CATEGORIES})

    def to_dict(self) -> dict:
        """Plain data for JSON: counts as ``{"gold": g, "predicted": p}``, confusions as a list."""
        asdict = dataclasses.asdict
        return {
            "gold": self.gold, "predicted": self.predicted,
            "categories": {c: asdict(n) for c, n in self.categories.items()},
            "kinds": {c: {k: asdict(n) for k, n in kinds.items()} for c, kinds in self.kinds.items()},
            "types": {t: {c: asdict(n) for c, n in counts.items()} for t, counts in self.types.items()},
            "confusions": [{"gold": g, "predicted": p, "count": n}
                           for (g, p), n in sorted(self.confusions.items(), key=lambda x: (-x[1], x[0]))],
            "examples": {c: [e.to_dict() for e in examples] for c, examples in self.examples.items()},
        }


def groups(gold: Sequence[Span], predicted: Sequence[Span]) -> list[Group]:
    """The gold and predicted spans of one sentence, grouped by overlap and classified.

    Parameters
    ----------
    gold, predicted : sequence of (start, end, type)
        Sorted, non-overlapping spans of one side each (as `tags_to_spans` returns them).

    Returns
    -------
    list of Group
        In sentence order; every span of either side is in exactly one group.
    """
    spans = sorted([(s, True) for s in gold] + [(s, False) for s in predicted], key=lambda x: x[0][:2])
    out: list[Group] = []
    members: list[tuple[Span, bool]] = []
    end = -1
    for span, is_gold in spans:
        # A span starting before the group's furthest end overlaps the span that reaches it, which is of
        # the other side (spans of one side do not overlap), so it joins the group.
        if members and span[0] >= end:
            out.append(_classify(members))
            members = []
        end = max(end, span[1]) if members else span[1]
        members.append((span, is_gold))
    if members:
        out.append(_classify(members))
    return out


def _classify(members: list[tuple[Span, bool]]) -> Group:
    gold = tuple(s for s, is_gold in members if is_gold)
    predicted = tuple(s for s, is_gold in members if not is_gold)
    if not predicted:
        assert len(gold) == 1
        return Group("missed", None, gold, predicted)
    if not gold:
        assert len(predicted) == 1
        return Group("spurious", None, gold, predicted)
    if len(gold) == len(predicted) == 1 and gold[0][:2] == predicted[0][:2]:
        return Group("correct" if gold[0][2] == predicted[0][2] else "type", None, gold, predicted)
    one_type = len({s[2] for s in gold + predicted}) == 1
    return Group("boundary" if one_type else "type_and_boundary", _kind(gold, predicted), gold, predicted)


def _kind(gold: tuple[Span, ...], predicted: tuple[Span, ...]) -> str:
    if len(gold) > 1:
        return "merged" if len(predicted) == 1 else "tangled"
    if len(predicted) > 1:
        return "split"
    (g0, g1, _), (p0, p1, _) = gold[0], predicted[0]
    if p0 <= g0 and g1 <= p1:
        return "longer"
    if g0 <= p0 and p1 <= g1:
        return "shorter"
    return "shifted"


def error_report(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]], scheme: str,
                 words: Sequence[Sequence[str]] | None = None, lines: Sequence[int] | None = None,
                 examples: int = 3) -> ErrorReport:
    """Count every gold and predicted entity once in a category, with a few examples of each.

    Parameters
    ----------
    gold, predicted : list of tag sequences, one per sentence, in ``scheme``
        Sentence ``i`` has the same number of tags in both.
    scheme : {"IOB1", "IOB2", "BIOES"}
    words : list of word sequences, optional
        The sentences' words, for the examples (without them, examples show token indices).
    lines : sequence of int, optional
        The file line of each sentence (its first token), for the examples; 0 when not given.
    examples : int
        How many examples to keep per category.

    Returns
    -------
    ErrorReport
    """
    if len(gold) != len(predicted) or any(len(g) != len(p) for g, p in zip(gold, predicted)):
        raise ValueError("gold and predicted tag sequences must have the same number of sentences and tokens")
    scheme = check_scheme(scheme)
    report = ErrorReport()
    for i, (g, p) in enumerate(zip(gold, predicted)):
        for group in groups(tags_to_spans(g, scheme), tags_to_spans(p, scheme)):
            _count(report, group)
            kept = report.examples[group.category]
            if len(kept) < examples:
                shown = tuple(words[i]) if words is not None else tuple(str(k) for k in range(len(g)))
                kept.append(Example(lines[i] if lines is not None else 0, shown, group))
    report.kinds = {c: dict(sorted(kinds.items(), key=lambda x: KINDS.index(x[0])))
                    for c, kinds in report.kinds.items()}
    report.types = dict(sorted(report.types.items()))
    assert sum(n.gold for n in report.categories.values()) == report.gold
    assert sum(n.predicted for n in report.categories.values()) == report.predicted
    return report


def _count(report: ErrorReport, group: Group) -> None:
    report.gold += len(group.gold)
    report.predicted += len(group.predicted)
    report.categories[group.category].add(group)
    if group.kind is not None:
        report.kinds.setdefault(group.category, {}).setdefault(group.kind, Count()).add(group)
    for spans, side in ((group.gold, "gold"), (group.predicted, "predicted")):
        for _, _, typ in spans:
            count = report.types.setdefault(typ, {c: Count() for c in CATEGORIES})[group.category]
            setattr(count, side, getattr(count, side) + 1)
    if group.category == "type":
        report.confusions[group.gold[0][2], group.predicted[0][2]] += 1


# -- text ------------------------------------------------------------------------------------------------------
def marked(words: Sequence[str], spans: Sequence[Span], first: int, last: int) -> str:
    """Words ``first:last`` with each span in brackets followed by its type: ``[New York]LOC``."""
    starts = {s: t for s, _, t in spans}
    ends = {e: t for _, e, t in spans}
    out = ["..."] if first > 0 else []
    for k in range(first, last):
        word = words[k]
        if k in starts:
            word = "[" + word
        if k + 1 in ends:
            word += "]" + ends[k + 1]
        out.append(word)
    return " ".join(out + (["..."] if last < len(words) else []))


def format_report(report: ErrorReport) -> str:
    """The report as text: counts per category (and kind), per type, type confusions, examples."""
    rows: list[list[object]] = []
    for c in CATEGORIES:
        rows.append([LABELS[c], report.categories[c].gold, report.categories[c].predicted])
        for kind, n in report.kinds.get(c, {}).items():
            rows.append([f"  {kind}", n.gold, n.predicted])
    rows.append(["total", report.gold, report.predicted])
    parts = ["errors (every gold and predicted entity counted once):",
             format_table(["category", "gold", "predicted"], rows)]

    for side, categories in (("gold", CATEGORIES[:-1]), ("predicted", CATEGORIES[:4] + CATEGORIES[5:])):
        totals = {t: sum(getattr(n, side) for n in counts.values()) for t, counts in report.types.items()}
        table = [[t] + [getattr(report.types[t][c], side) for c in categories] + [total]
                 for t, total in totals.items() if total]  # the types of this side
        table.append(["overall"] + [getattr(report.categories[c], side) for c in categories]
                     + [getattr(report, side)])
        header = ["type"] + [LABELS[c] for c in categories] + ["total"]
        parts += ["", f"{side} entities by type:", format_table(header, table)]

    if report.confusions:
        predicted_types = sorted({p for _, p in report.confusions})
        table = [[g] + [report.confusions.get((g, p), 0) or "." for p in predicted_types]
                 for g in sorted({g for g, _ in report.confusions})]
        parts += ["", "type confusions (right span; gold type by row, predicted type by column):",
                  format_table(["gold \\ predicted"] + predicted_types, table)]

    for c in CATEGORIES[1:]:
        if report.examples[c]:
            parts += ["", f"examples, {LABELS[c]}:"]
            for e in report.examples[c]:
                parts += _example_lines(e)
    return "\n".join(parts)


def _example_lines(example: Example) -> list[str]:
    group = example.group
    spans = group.gold + group.predicted
    first = max(0, min(s for s, _, _ in spans) - CONTEXT)
    last = min(len(example.words), max(e for _, e, _ in spans) + CONTEXT)
    where = f"line {example.line}" + (f" ({group.kind})" if group.kind else "")
    return [f"  {where}:",
            f"    gold  {marked(example.words, group.gold, first, last)}",
            f"    pred  {marked(example.words, group.predicted, first, last)}"]
