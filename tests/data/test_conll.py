"""CoNLL reader and writer: every well-formed variant is read, every malformed one is a located error."""
import gzip
import io

import pytest

from nertag.data.conll import (
    Sentence,
    _checked_sentences,
    _invented_docstart,
    load_conll,
    read_conll,
    sniff_delimiter,
    write_conll,
)
from nertag.errors import DataError

TWO_DOCS = (
    "-DOCSTART- -X- O O\n"
    "\n"
    "Anna NNP I-NP I-PER\n"
    "lives VBZ I-VP O\n"
    "in IN I-PP O\n"
    "New NNP I-NP I-LOC\n"
    "York NNP I-NP I-LOC\n"
    "\n"
    "Hi UH O O\n"
    "\n"
    "-DOCSTART- -X- O O\n"
    "\n"
    "Bob NNP I-NP I-PER\n"
)


def write(tmp_path, content, name="data.conll"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def read(tmp_path, content, **options):
    return load_conll(write(tmp_path, content), **options)


def words_and_tags(sentences):
    return [(s.words, s.tags) for s in sentences]


# Well-formed variants -------------------------------------------------------------------------------

def test_reads_words_tags_columns_documents_and_lines(tmp_path):
    sentences = read(tmp_path, TWO_DOCS)
    assert words_and_tags(sentences) == [
        (["Anna", "lives", "in", "New", "York"], ["I-PER", "O", "O", "I-LOC", "I-LOC"]),
        (["Hi"], ["O"]),
        (["Bob"], ["I-PER"]),
    ]
    assert sentences[0].columns[3] == ["New", "NNP", "I-NP", "I-LOC"]
    assert [s.doc for s in sentences] == [0, 0, 1]
    assert [s.line for s in sentences] == [3, 9, 13]
    assert len(sentences[0]) == 5


def test_crlf_bom_blank_runs_no_final_newline_all_read_the_same(tmp_path):
    expected = words_and_tags(read(tmp_path, TWO_DOCS))
    messy = "\ufeff" + TWO_DOCS.replace("\n\n", "\n\n\n \n\t\n").replace("\n", "\r\n").rstrip("\r\n")
    sentences = read(tmp_path, messy)
    assert words_and_tags(sentences) == expected
    assert [s.doc for s in sentences] == [0, 0, 1]


def test_docstart_at_the_end_and_absent_at_the_start(tmp_path):
    # WikiGold's layout: documents end with -DOCSTART-, the first document has none before it.
    sentences = read(tmp_path, "A I-PER\n\nb O\n\n-DOCSTART- O\n\nC I-LOC\n\n-DOCSTART- O\n")
    assert [(s.words, s.doc) for s in sentences] == [(["A"], 0), (["b"], 0), (["C"], 1)]


def test_docstart_without_blank_line_still_ends_the_sentence(tmp_path):
    sentences = read(tmp_path, "A O\n-DOCSTART- O\nB O\n")
    assert [(s.words, s.doc) for s in sentences] == [(["A"], 0), (["B"], 1)]


def test_repeated_docstart_lines_open_one_document(tmp_path):
    sentences = read(tmp_path, "-DOCSTART- O\n\n-DOCSTART- O\nA O\n\n-DOCSTART- O\n-DOCSTART- O\n\nB O\n")
    assert [s.doc for s in sentences] == [0, 1]


def test_runs_of_spaces_and_tabs_split_columns_in_a_whitespace_file(tmp_path):
    sentences = read(tmp_path, "Anna   NNP  I-PER\nsaw VBD O\n")
    assert sentences[0].columns == [["Anna", "NNP", "I-PER"], ["saw", "VBD", "O"]]


def test_tab_separated_file_keeps_spaces_inside_tokens(tmp_path):
    path = write(tmp_path, "New York\tB-location\nis\tO\n\t\nok\tO\n")
    assert sniff_delimiter(path) == "\t"
    sentences = load_conll(path)
    assert words_and_tags(sentences) == [(["New York", "is"], ["B-location", "O"]), (["ok"], ["O"])]


def test_delimiter_can_be_forced(tmp_path):
    path = write(tmp_path, "New York\tB-LOC\n")
    assert load_conll(path, delimiter=None)[0].columns == [["New", "York", "B-LOC"]]


def test_word_and_tag_columns_are_selectable(tmp_path):
    sentences = read(tmp_path, "1 Anna NNP B-PER x\n2 saw VBD O x\n", word_col=1, tag_col=3)
    assert words_and_tags(sentences) == [(["Anna", "saw"], ["B-PER", "O"])]
    sentences = read(tmp_path, "1 Anna NNP B-PER x\n", word_col=-4, tag_col=-2)
    assert words_and_tags(sentences) == [(["Anna"], ["B-PER"])]


def test_unlabelled_file_of_words_only(tmp_path):
    sentences = read(tmp_path, "Anna\nsaw\n\nBob\n", tag_col=None)
    assert words_and_tags(sentences) == [(["Anna", "saw"], None), (["Bob"], None)]


def test_declared_scheme_accepts_its_prefixes(tmp_path):
    assert read(tmp_path, "A S-PER\nB B-ORG\nC E-ORG\n", scheme="BIOES")[0].tags == ["S-PER", "B-ORG", "E-ORG"]
    assert read(tmp_path, "A B-creative-work\nB I-creative-work\n", scheme="BIO")[0].tags[1] == "I-creative-work"


def test_gzip_text_stream_and_binary_stream_sources(tmp_path):
    expected = words_and_tags(read(tmp_path, TWO_DOCS))
    gz = tmp_path / "data.conll.gz"
    gz.write_bytes(gzip.compress(TWO_DOCS.encode()))
    assert words_and_tags(load_conll(gz)) == expected
    assert words_and_tags(load_conll(io.StringIO(TWO_DOCS))) == expected
    assert words_and_tags(load_conll(io.BytesIO(TWO_DOCS.encode()))) == expected


def test_reading_is_lazy(tmp_path):
    path = write(tmp_path, "A O\n\nB O\n\nC X\n")  # the error is on line 5
    sentences = read_conll(path)
    assert next(sentences).words == ["A"]
    assert next(sentences).words == ["B"]
    with pytest.raises(DataError, match=":5:"):
        next(sentences)


def test_numbered_lines_group_into_sentences_and_return_the_counts():
    # The grouping without a file; its return value is what the error about a file without sentences says.
    lines = enumerate(["-DOCSTART- O", "", "A O", "b O", "", "-DOCSTART- O", "C O", "", " "], 1)
    sentences, counts = drain(_checked_sentences(lines, "<lines>", 0, -1, None, "auto", [], print))
    assert [(s.words, s.doc, s.line) for s in sentences] == [(["A", "b"], 0, 3), (["C"], 1, 7)]
    assert counts == (2, 9)
    assert drain(_checked_sentences(enumerate(["", "-DOCSTART-"], 1), "<lines>", 0, -1, None, "auto", [], print)) == (
        [], (0, 2))


def drain(generator):
    """Everything `generator` yields, as a list, and the value it returns."""
    items = []
    try:
        while True:
            items.append(next(generator))
    except StopIteration as stop:
        return items, stop.value


# Malformed input: one line, naming file and line, saying what was expected and what came --------------

MALFORMED = [
    (
        "column count",
        "Anna NNP I-PER\nsaw O\n",
        {},
        "{path}:2: expected 3 columns like line 1 where this sentence starts, found 2",
    ),
    (
        "bad tag",
        "Anna I-PER\nsaw PER\n",
        {},
        "{path}:2: expected a tag O or B-TYPE/I-TYPE/E-TYPE/S-TYPE, found 'PER' in column 2",
    ),
    (
        "prefix outside the declared scheme",
        "A O\n\nAnna S-PER\n",
        {"scheme": "IOB1"},
        "{path}:3: expected a tag O or B-TYPE/I-TYPE in IOB1, found 'S-PER' in column 2",
    ),
    (
        "tag without a type",
        "Anna B-\n",
        {},
        "{path}:1: expected a tag O or B-TYPE/I-TYPE/E-TYPE/S-TYPE, found 'B-' in column 2",
    ),
    (
        "lowercase o",
        "Anna o\n",
        {"scheme": "IOB2"},
        "{path}:1: expected a tag O or B-TYPE/I-TYPE in IOB2, found 'o' in column 2",
    ),
    (
        "not UTF-8",
        b"Anna O\n\nM\xfcller I-PER\n",
        {},
        "{path}:3: expected UTF-8 text, found byte 0xfc at byte 2 of the line "
        "(convert the file to UTF-8, e.g. with iconv)",
    ),
    ("empty file", b"", {}, "{path}: expected sentences of one token per line, found an empty file"),
    (
        "only blank and -DOCSTART- lines",
        "-DOCSTART- O\n\n\n",
        {},
        "{path}: expected sentences of one token per line, found 3 lines without a token",
    ),
    (
        "one column where a tag is expected",
        "Anna\nsaw\n",
        {},
        "{path}:1: expected a word column and a tag column, found 1 whitespace-separated column "
        "(to read words without tags, use tag_col=None)",
    ),
    (
        "tag column out of range",
        "Anna NNP I-PER\n",
        {"tag_col": 3},
        "{path}:1: expected a tag in column 4, found only 3 whitespace-separated columns",
    ),
    (
        "word column out of range",
        "Anna O\n",
        {"word_col": -3},
        "{path}:1: expected a word in column -3, found only 2 whitespace-separated columns",
    ),
    (
        "TAB file line without TAB",
        "New York\tI-LOC\nis O\n",
        {},
        "{path}:2: expected 2 columns like line 1 where this sentence starts, found 1",
    ),
]


@pytest.mark.parametrize("content, options, message", [case[1:] for case in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_input_is_a_located_one_line_error(tmp_path, content, options, message):
    path = write(tmp_path, content)
    with pytest.raises(DataError) as caught:
        load_conll(path, **options)
    assert str(caught.value) == message.format(path=path)
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match=r"missing\.conll: cannot read the file: No such file"):
        load_conll(tmp_path / "missing.conll")


def test_bad_utf8_in_a_text_stream_names_the_line(tmp_path):
    path = write(tmp_path, b"A O\n" * 3 + b"\xff O\n")
    with open(path, encoding="utf-8") as stream, pytest.raises(DataError, match="expected UTF-8 text, found byte 0xff"):
        load_conll(stream)


# Writer ---------------------------------------------------------------------------------------------

def test_write_then_read_round_trips(tmp_path):
    sentences = read(tmp_path, TWO_DOCS)
    out = tmp_path / "out.conll"
    assert write_conll(sentences, out) == 3
    again = load_conll(out)
    assert [(s.words, s.tags, s.columns, s.doc) for s in again] == [
        (s.words, s.tags, s.columns, s.doc) for s in sentences
    ]
    assert out.read_text() == TWO_DOCS + "\n"  # its -DOCSTART- lines as they were


def test_predicted_tags_are_a_new_last_column(tmp_path):
    sentences = read(tmp_path, "Anna I-PER\nsaw O\n\nBob I-PER\n")
    out = io.StringIO()
    write_conll(sentences, out, predicted=[["B-PER", "O"], ["B-ORG"]], docstart=None)
    assert out.getvalue() == "Anna I-PER B-PER\nsaw O O\n\nBob I-PER B-ORG\n\n"
    again = load_conll(io.StringIO(out.getvalue()), tag_col=1)
    assert [s.tags for s in again] == [["I-PER", "O"], ["I-PER"]]
    assert [s.words for s in again] == [s.words for s in sentences]


def test_docstart_between_documents_only(tmp_path):
    sentences = read(tmp_path, "A O\n\n-DOCSTART- O\n\nB O\n\nC O\n")
    out = io.StringIO()
    write_conll(sentences, out, docstart="between")
    assert out.getvalue() == "A O\n\n-DOCSTART- O\n\nB O\n\nC O\n\n"


def test_tab_delimited_round_trip_keeps_tokens_with_spaces(tmp_path):
    sentences = read(tmp_path, "New York\tB-LOC\nis\tO\n")
    out = tmp_path / "out.conll"
    write_conll(sentences, out, delimiter="\t", docstart=None)
    assert words_and_tags(load_conll(out)) == words_and_tags(sentences)


def test_writer_refuses_fields_that_would_not_read_back(tmp_path):
    sentences = read(tmp_path, "New York\tB-LOC\n")
    with pytest.raises(ValueError, match="contain whitespace or are empty"):
        write_conll(sentences, io.StringIO())


@pytest.mark.parametrize(
    "columns, with_prediction, expected",
    [
        ([["Anna", "NNP", "I-NP", "I-PER"]], False, "-DOCSTART- -X- -X- O\n\n"),  # CoNLL-2003's own line
        ([["Anna", "I-PER"]], True, "-DOCSTART- -X- O\n\n"),  # counting the predicted column
        ([["Anna", "I-PER"]], False, "-DOCSTART- O\n\n"),
        ([["Anna"]], False, "-DOCSTART-\n\n"),
        ([], False, "-DOCSTART-\n\n"),  # a sentence without tokens
    ],
)
def test_docstart_line_is_as_wide_as_the_token_lines(columns, with_prediction, expected):
    sentence = Sentence([row[0] for row in columns], None, columns)
    assert _invented_docstart(sentence, with_prediction, " ") == expected


def test_writer_checks_predicted_lengths():
    sentence = Sentence(["a", "b"], None, [["a"], ["b"]])
    with pytest.raises(ValueError, match="sentence 1 has 2 tokens but 1 tags were predicted"):
        write_conll([sentence], io.StringIO(), predicted=[["O"]])
    with pytest.raises(ValueError, match="sentence 1 has 2 tokens but no tags were predicted"):
        write_conll([sentence], io.StringIO(), predicted=[])
    with pytest.raises(ValueError, match="more predicted tag sequences than the 1 sentences"):
        write_conll([sentence], io.StringIO(), predicted=[["O", "O"], ["O"]])


def test_empty_words_are_skipped_with_one_warning_and_a_count(tmp_path):
    """The Broad Twitter Corpus has token lines ``<TAB>O``: skipped, the first named, all counted."""
    path = write(tmp_path, "Anna\tI-PER\n\tO\nsaw\tO\n\n\tO\n\nBob\tI-PER\n\n\tO\n")
    warnings = []
    sentences = load_conll(path, warn=warnings.append)
    assert [(s.words, s.line) for s in sentences] == [(["Anna", "saw"], 1), (["Bob"], 7)]
    assert warnings == [f"{path}:2: skipped a token line with an empty word (column 1)",
                        f"{path}: skipped 3 token lines with an empty word"]
    with pytest.raises(DataError, match="found 2 lines without a token"):
        load_conll(write(tmp_path, "\tO\n\n"), warn=warnings.append)


def test_docstart_lines_are_written_back_as_read_and_none_invented(tmp_path):
    text = "-DOCSTART-\t-DOCSTART-\tO\n\nAnna\tI-PER\n\n-DOCSTART-\t-DOCSTART-\tO\n\nBob\tI-PER\n\n"
    sentences = load_conll(write(tmp_path, text))
    assert [s.docstart for s in sentences] == ["-DOCSTART-\t-DOCSTART-\tO"] * 2
    out = io.StringIO()
    write_conll(sentences, out, predicted=[["B-PER"], ["O"]], delimiter="\t")
    assert out.getvalue() == ("-DOCSTART-\t-DOCSTART-\tO\tO\n\nAnna\tI-PER\tB-PER\n\n"
                              "-DOCSTART-\t-DOCSTART-\tO\tO\n\nBob\tI-PER\tO\n\n")
    plain = load_conll(write(tmp_path, "Anna I-PER\n\nBob O\n"))
    out = io.StringIO()
    write_conll(plain, out, predicted=[["B-PER"], ["O"]])
    assert out.getvalue() == "Anna I-PER B-PER\n\nBob O O\n\n"  # no -DOCSTART- where the file had none
    out = io.StringIO()
    write_conll(plain, out, closing="-DOCSTART- O")
    assert out.getvalue().endswith("Bob O\n\n-DOCSTART- O\n")


def test_tab_file_tokens_that_are_spaces_survive_the_writer(tmp_path):
    sentences = load_conll(write(tmp_path, "New York\tB-LOC\t\n \tO\tx\n"), tag_col=1)
    assert [row[0] for row in sentences[0].columns] == ["New York", " "]
    out = io.StringIO()
    write_conll(sentences, out, predicted=[["B-LOC", "O"]], delimiter="\t")
    assert out.getvalue() == "New York\tB-LOC\t\tB-LOC\n \tO\tx\tO\n\n"
    assert [s.columns for s in load_conll(io.StringIO(out.getvalue()), tag_col=1)] == [
        [["New York", "B-LOC", "", "B-LOC"], [" ", "O", "x", "O"]]]


def test_comment_lines_before_sentences_are_skipped_and_hash_tokens_kept(tmp_path):
    """GermEval/CoNLL-U comment lines (other columns than the token line after them) are skipped with one
    warning and a count; a '#' token with the columns of its sentence is a token, first in a sentence too."""
    text = ("#\thttp://example.org/a [2009-10-17]\n1\tSchartau\tB-PER\tO\n2\tsagte\tO\tO\n\n"
            "# sent_id = 2\n# text = #\n1\t#\tO\tO\n\n#\t#\tO\tO\n2\tx\tO\tO\n")
    warnings = []
    sentences = load_conll(write(tmp_path, text), word_col=1, tag_col=2, warn=warnings.append)
    assert [s.words for s in sentences] == [["Schartau", "sagte"], ["#"], ["#", "x"]]
    assert [s.line for s in sentences] == [2, 7, 9]
    path = tmp_path / "data.conll"
    assert warnings == [f"{path}:1: skipped a comment line before a sentence (it starts with # and has other "
                        f"columns than the token line after it)", f"{path}: skipped 3 comment lines before sentences"]
    tweets = load_conll(write(tmp_path, "#\tO\n\n#\tO\nlol\tO\n"), warn=warnings.append)
    assert [s.words for s in tweets] == [["#"], ["#", "lol"]] and len(warnings) == 2  # tokens, nothing skipped
