"""Entity-level scores with seqeval, and aligned text tables for them.

Default mode is conlleval-compatible (seqeval's default: a chunk starts wherever conlleval would start
one, so IOB1, IOB2 and BIOES tags all score as conlleval scores them, ill-formed chunks repaired).
``strict=True`` uses seqeval's strict mode in the tags' own scheme: a chunk counts only if it is well
formed there (in IOB2 an ``I-X`` after ``O`` is no entity; in BIOES a ``B-X`` needs its ``E-X``).

seqeval is imported by :func:`entity_scores`, not with this module: it brings scikit-learn and scipy.stats
(about 0.7 s), which only commands that compute scores (``nertag eval``, training's dev evaluation) need.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

from .data.schemes import check_scheme, convert


def entity_scores(gold: list[list[str]], predicted: list[list[str]], scheme: str, strict: bool = False) -> dict:
    """Precision, recall, F1 (in %) and support per entity type and overall (micro average).

    Parameters
    ----------
    gold, predicted : list of tag sequences, one per sentence, in ``scheme``.
    scheme : {"IOB1", "IOB2", "BIOES"}
    strict : bool
        Score only well-formed chunks of ``scheme`` (seqeval's strict mode), not conlleval's repairs.

    Returns
    -------
    dict
        ``{"overall": {"precision", "recall", "f1", "support"}, "types": {TYPE: {...}}, "mode": ...}``;
        ``mode`` is "conlleval" or "strict <scheme>".
    """
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB1, IOB2, IOBES

    if len(gold) != len(predicted) or any(len(g) != len(p) for g, p in zip(gold, predicted)):
        raise ValueError("gold and predicted tag sequences must have the same number of sentences and tokens")
    scheme = check_scheme(scheme)
    if strict:
        y_true, y_pred = [list(tags) for tags in gold], [list(tags) for tags in predicted]
        options = {"mode": "strict", "scheme": {"IOB1": IOB1, "IOB2": IOB2, "BIOES": IOBES}[scheme]}
    else:  # conlleval reads the chunks of every scheme alike; BIOES tags are read the same by all
        y_true = [convert(tags, scheme, "BIOES") for tags in gold]
        y_pred = [convert(tags, scheme, "BIOES") for tags in predicted]
        options = {}
    with warnings.catch_warnings():  # seqeval averages empty arrays when there are no entities at all
        warnings.simplefilter("ignore", RuntimeWarning)
        report = classification_report(y_true, y_pred, output_dict=True, zero_division=0, **options)

    def row(r: dict) -> dict:
        return {"precision": 100 * float(r["precision"]), "recall": 100 * float(r["recall"]),
                "f1": 100 * float(r["f1-score"]), "support": int(r["support"])}

    types = {name: row(r) for name, r in report.items() if not name.endswith(" avg")}
    return {"mode": f"strict {scheme}" if strict else "conlleval", "overall": row(report["micro avg"]),
            "types": dict(sorted(types.items()))}


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Rows of cells as aligned text: the first column left-aligned, the others right-aligned.

    Column widths come from the content (header and cells), so long names such as WNUT-17's
    ``creative-work`` keep the columns straight; columns are two spaces apart.
    """
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[j]) for row in cells) for j in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths)))
                     .rstrip() for row in cells)
