"""Tag schemes: spans, conversion, detection and decoding constraints."""
import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nertag.data.schemes import (
    TagIds,
    allowed_end,
    allowed_start,
    allowed_transitions,
    check_scheme,
    convert,
    detect_scheme,
    scheme_tags,
    spans_to_tags,
    tags_to_spans,
)
from nertag.errors import DataError, NertagError

SCHEMES = ("IOB1", "IOB2", "BIOES")

# One sentence, three ways: PER PER (adjacent entities of one type), then LOC of one token, then ORG.
SPANS = [(0, 2, "PER"), (2, 3, "PER"), (4, 5, "LOC"), (5, 7, "ORG")]
WRITTEN = {
    "IOB1": ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG", "I-ORG", "O"],
    "IOB2": ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "I-ORG", "O"],
    "BIOES": ["B-PER", "E-PER", "S-PER", "O", "S-LOC", "B-ORG", "E-ORG", "O"],
}


@pytest.mark.parametrize("scheme", SCHEMES)
def test_tags_and_spans_worked_example(scheme):
    assert tags_to_spans(WRITTEN[scheme], scheme) == SPANS
    assert spans_to_tags(SPANS, 8, scheme) == WRITTEN[scheme]


@pytest.mark.parametrize("source, target", list(itertools.product(SCHEMES, SCHEMES)))
def test_convert_between_any_two(source, target):
    assert convert(WRITTEN[source], source, target) == WRITTEN[target]


def test_conlleval_rule_repairs_ill_formed_sequences():
    assert tags_to_spans(["O", "I-PER", "I-LOC", "E-LOC", "I-LOC"]) == [(1, 2, "PER"), (2, 4, "LOC"), (4, 5, "LOC")]
    assert convert(["O", "I-PER", "I-PER"], "IOB2", "IOB2") == ["O", "B-PER", "I-PER"]
    assert convert(["B-PER", "O"], "BIOES", "BIOES") == ["S-PER", "O"]


def test_types_may_contain_hyphens():
    assert tags_to_spans(["B-creative-work", "I-creative-work"]) == [(0, 2, "creative-work")]


def test_bad_tags_and_spans_are_errors():
    with pytest.raises(DataError, match="expected a tag O or B-TYPE/I-TYPE in IOB1, found 'E-PER'"):
        tags_to_spans(["E-PER"], "IOB1")
    with pytest.raises(ValueError, match="spans must be sorted, non-overlapping and within 0..3"):
        spans_to_tags([(1, 3, "A"), (2, 3, "B")], 3, "IOB2")
    with pytest.raises(NertagError, match="unknown tag scheme 'BILOU'; expected one of IOB1, IOB2, BIOES"):
        check_scheme("BILOU")
    assert check_scheme("iobes") == "BIOES" and check_scheme("bio") == "IOB2"


def test_detect_scheme():
    assert detect_scheme([WRITTEN["IOB1"], ["O"]]) == "IOB1"
    assert detect_scheme([WRITTEN["IOB2"]]) == "IOB2"
    assert detect_scheme([WRITTEN["BIOES"]]) == "BIOES"
    assert detect_scheme([["O", "O"], []]) == "IOB2"  # nothing to tell: any reading is the same
    # A stray IOB2-style start among IOB1 entities does not flip the answer.
    assert detect_scheme([["B-PER", "O", "I-LOC", "O", "I-ORG"]]) == "IOB1"
    with pytest.raises(TypeError, match="sequence of tag sequences"):
        detect_scheme(["O", "B-PER"])


def test_scheme_tags():
    assert scheme_tags(["PER", "LOC", "PER"], "BIOES") == [
        "O", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "B-PER", "I-PER", "E-PER", "S-PER",
    ]
    assert scheme_tags(["PER"], "IOB1") == ["O", "B-PER", "I-PER"]


@st.composite
def spans_and_length(draw):
    n = draw(st.integers(0, 12))
    cuts = sorted(draw(st.sets(st.integers(0, n), max_size=8)))
    spans = []
    for start, end in zip(cuts, cuts[1:]):
        if draw(st.booleans()):
            spans.append((start, end, draw(st.sampled_from(["PER", "LOC", "creative-work"]))))
    return spans, n


@given(spans_and_length(), st.sampled_from(SCHEMES), st.sampled_from(SCHEMES))
def test_spans_survive_every_conversion(spans_n, source, target):
    spans, n = spans_n
    tags = spans_to_tags(spans, n, source)
    assert tags_to_spans(tags, source) == spans
    converted = convert(tags, source, target)
    assert tags_to_spans(converted, target) == spans
    assert convert(converted, target, source) == tags


# Decoding constraints: allowed by the matrices  <=>  well-formed (left unchanged by conversion) --------

@pytest.mark.parametrize("scheme", SCHEMES)
def test_constraints_allow_exactly_the_well_formed_sequences(scheme):
    tag_list = scheme_tags(["A", "B"], scheme)
    trans, start, end = (f(tag_list, scheme) for f in (allowed_transitions, allowed_start, allowed_end))
    for n in range(1, 5):
        for ids in itertools.product(range(len(tag_list)), repeat=n):
            allowed = start[ids[0]] and end[ids[-1]] and all(trans[a, b] for a, b in zip(ids, ids[1:]))
            tags = [tag_list[i] for i in ids]
            assert allowed == (convert(tags, scheme, scheme) == tags), tags


def test_constraint_examples_and_special_symbols():
    tags = ["<pad>", "O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]
    trans = allowed_transitions(tags, "BIOES")
    assert trans.shape == (10, 10) and trans.dtype == bool
    assert not trans[0].any() and not trans[:, 0].any()
    assert trans[2, 3] and trans[2, 4] and not trans[2, 7] and not trans[1, 3] and trans[4, 6]
    np.testing.assert_array_equal(allowed_start(tags, "BIOES"), [0, 1, 1, 0, 0, 1, 1, 0, 0, 1])
    np.testing.assert_array_equal(allowed_end(tags, "BIOES"), [0, 1, 0, 0, 1, 1, 0, 0, 1, 1])
    iob1 = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    t1 = allowed_transitions(iob1, "IOB1")
    assert t1[2, 1] and t1[1, 1] and not t1[0, 1] and not t1[4, 1] and t1[0, 2] and t1[4, 2]
    np.testing.assert_array_equal(allowed_start(iob1, "IOB1"), [1, 0, 1, 0, 1])
    iob2 = ["O", "B-PER", "I-PER"]
    t2 = allowed_transitions(iob2, "IOB2")
    np.testing.assert_array_equal(t2, [[1, 1, 0], [1, 1, 1], [1, 1, 1]])
    np.testing.assert_array_equal(allowed_end(iob2, "IOB2"), [1, 1, 1])
    with pytest.raises(NertagError, match="does not fit its scheme: expected a tag O or B-TYPE/I-TYPE in IOB2"):
        allowed_transitions(["O", "S-PER"], "IOB2")


# -- many sequences at once (TagIds) --------------------------------------------------------------------------
@given(st.sampled_from(SCHEMES), st.lists(st.lists(st.integers(0, 2 * 4), max_size=9), max_size=7))
def test_tag_ids_read_and_write_as_the_per_sentence_functions(target, sequences):
    """Any tag ids, ill-formed ones and empty sequences included, give tags_to_spans' spans and convert's tags."""
    tag_list = scheme_tags(["LOC", "PER"], "BIOES")  # every prefix: conlleval's rule reads any mixture
    codec = TagIds(tag_list)
    ids = np.array([i for seq in sequences for i in seq], dtype=np.int64)
    lengths = np.array([len(seq) for seq in sequences], dtype=np.int64)
    spans = codec.spans(ids, lengths)
    expected = [(b, *span) for b, seq in enumerate(sequences) for span in tags_to_spans([tag_list[i] for i in seq])]
    sequence, start, end, type_ = (a.tolist() for a in spans)
    assert [(b, i, j, codec.types[k]) for b, i, j, k in zip(sequence, start, end, type_)] == expected
    written = codec.tags(spans, lengths, target)
    assert written == [convert([tag_list[i] for i in seq], "BIOES", target) for seq in sequences]


def test_tag_ids_check_the_tag_list_once():
    with pytest.raises(DataError, match="expected a tag O or B-TYPE/I-TYPE in IOB2, found 'S-PER'"):
        TagIds(["O", "B-PER", "S-PER"], "IOB2")
    codec = TagIds(scheme_tags(["PER"], "IOB2"), "IOB2")
    with pytest.raises(ValueError, match="spans must be sorted"):
        codec.tags((np.array([0, 0]), np.array([0, 1]), np.array([2, 3]), np.array([0, 0])), np.array([3]), "IOB2")
