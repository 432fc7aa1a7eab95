"""Entity-level scores with seqeval.

Default mode is conlleval-compatible (seqeval's default: a chunk starts wherever conlleval would start
one, so IOB1, IOB2 and BIOES tags all score as conlleval scores them). ``strict=True`` uses seqeval's
strict mode on BIOES, where an ill-formed chunk (an I- without its B-) counts as wrong.
"""
from __future__ import annotations

from seqeval.metrics import classification_report
from seqeval.scheme import IOBES

from .data.schemes import convert


def entity_scores(gold: list[list[str]], predicted: list[list[str]], scheme: str, strict: bool = False) -> dict:
    """Precision, recall, F1 (in %) and support per entity type and overall (micro average).

    Parameters
    ----------
    gold, predicted : list of tag sequences, one per sentence, in ``scheme``.
    scheme : {"IOB1", "IOB2", "BIOES"}

    Returns
    -------
    dict
        ``{"overall": {"precision", "recall", "f1", "support"}, "types": {TYPE: {...}}, "mode": ...}``.
    """
    if len(gold) != len(predicted) or any(len(g) != len(p) for g, p in zip(gold, predicted)):
        raise ValueError("gold and predicted tag sequences must have the same number of sentences and tokens")
    # Converting to BIOES first is loss-free and lets both modes read the same tags.
    y_true = [convert(tags, scheme, "BIOES") for tags in gold]
    y_pred = [convert(tags, scheme, "BIOES") for tags in predicted]
    options = {"mode": "strict", "scheme": IOBES} if strict else {}
    report = classification_report(y_true, y_pred, output_dict=True, zero_division=0, **options)

    def row(r: dict) -> dict:
        return {"precision": 100 * float(r["precision"]), "recall": 100 * float(r["recall"]),
                "f1": 100 * float(r["f1-score"]), "support": int(r["support"])}

    types = {name: row(r) for name, r in report.items() if not name.endswith(" avg")}
    return {"mode": "strict BIOES" if strict else "conlleval", "overall": row(report["micro avg"]),
            "types": dict(sorted(types.items()))}
