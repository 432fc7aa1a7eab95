"""Pictures (issue 18): the SVG training curve of a model directory and ``tag --output-format html``.

The files are checked as data (the SVG parses as XML with one polyline per series; the HTML parses, every
element balanced, hostile text escaped) and, where Chromium is installed, as pictures: rendered headless
to PNG, decoded here with zlib and NumPy, and required to show the colours they should.
"""
from __future__ import annotations

import html.parser
import io
import json
import os
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import numpy as np
import pytest
from run_outcome import DEV_PATH, TRAIN_PATH
from typer.testing import CliRunner

import nertag.files
import nertag.pictures.curve
import nertag.train
from nertag.cli import app
from nertag.config import Config
from nertag.data.conll import Sentence, load_conll
from nertag.data.text import read_text
from nertag.formats import OUTPUT_FORMATS, Layout, footer, format_tagged, header
from nertag.pictures import CURVE_FILE, best_epoch, curve_svg, format_html, write_curve
from nertag.pictures.curve import nice_ticks
from nertag.pictures.html import COLOURS, colour
from nertag.tagger import Entity, Tagged
from nertag.train import train

SVG = "{http://www.w3.org/2000/svg}"
SERIES = ("loss", "precision", "recall", "f1")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HOSTILE = "<script>alert(\"x\")</script> & 'Tom' <b>Jones</b> &amp; Ltd"


def history(n: int, dev: bool = True) -> list[dict]:
    rows = []
    for e in range(1, n + 1):
        row = {"epoch": e, "loss": 20 / e, "lr": 0.01, "seconds": 1.0, "tokens_per_s": 1000}
        if dev:
            f1 = 50 + 30 * (1 - 1 / e) - (5 if e == n and n > 2 else 0)  # best at n - 1
            row["dev"] = {"precision": f1 + 2, "recall": f1 - 2, "f1": f1}
        rows.append(row)
    return rows


def polylines(svg: str) -> dict[str, list[tuple[float, float]]]:
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    lines = {}
    for line in root.iter(f"{SVG}polyline"):
        key = line.get("data-series")
        assert key not in lines, f"two polylines for {key}"
        lines[key] = [tuple(map(float, p.split(","))) for p in line.get("points").split()]
    return lines


# -- the curve as data -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 7, 40])
def test_curve_has_one_polyline_per_series_with_a_point_per_epoch(n):
    svg = curve_svg(history(n))
    lines = polylines(svg)
    assert sorted(lines) == sorted(SERIES)
    assert all(len(points) == n for points in lines.values())
    xs = [x for x, _ in lines["loss"]]
    assert xs == sorted(xs) and all(x == [p[0] for p in lines["f1"]][i] for i, x in enumerate(xs))
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "epoch" in texts and "training loss per sentence" in texts and "dev score (%)" in texts
    for name in ("training loss", "dev precision", "dev recall", "dev F1", "best epoch"):
        assert name in texts, name  # the legend
    # the loss falls, so its line goes down the picture (y grows downwards)
    assert [y for _, y in lines["loss"]] == sorted(y for _, y in lines["loss"])


def test_curve_marks_the_best_epoch():
    rows = history(6)
    best = best_epoch(rows)
    assert best == 5 and rows[4]["dev"]["f1"] == max(r["dev"]["f1"] for r in rows)
    svg = curve_svg(rows)
    root = ET.fromstring(svg)
    x_best = polylines(svg)["f1"][best - 1][0]
    marks = [line for line in root.iter(f"{SVG}line") if line.get("class") == "best"]
    assert len(marks) == 2 and all(float(m.get("x1")) == float(m.get("x2")) == x_best for m in marks)
    assert f"best epoch {best}" in [t.text for t in root.iter(f"{SVG}text")]
    assert f"best dev F1 {rows[4]['dev']['f1']:.2f} at epoch 5" in root.find(f"{SVG}title").text


def test_best_epoch_is_the_first_of_equal_scores_as_training_keeps_it():
    rows = history(4)
    for row in rows:
        row["dev"]["f1"] = 60.0
    assert best_epoch(rows) == 1
    assert best_epoch(history(3, dev=False)) == 3 and best_epoch([]) is None


def test_curve_without_dev_data_draws_the_loss_and_keeps_the_last_epoch():
    svg = curve_svg(history(5, dev=False))
    assert sorted(polylines(svg)) == ["loss"] and len(polylines(svg)["loss"]) == 5
    texts = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text")]
    assert "kept epoch 5" in texts and "dev score (%)" not in texts


def test_curve_of_no_epochs_and_of_flat_scores_is_still_a_picture():
    assert polylines(curve_svg([])) == {}
    rows = history(3)
    for row in rows:
        row["dev"] = {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    lines = polylines(curve_svg(rows))
    assert len({y for _, y in lines["f1"]}) == 1


def test_ticks_are_round_and_cover_the_range():
    assert nice_ticks(0, 3.39) == [0, 1, 2, 3, 4]
    assert nice_ticks(86.1, 94.44) == [86, 88, 90, 92, 94, 96]
    assert nice_ticks(0, 0) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    for lo, hi in [(0, 17.1), (0.001, 0.0042), (29.5, 68.3), (5, 5)]:
        ticks = nice_ticks(lo, hi)
        assert ticks[0] <= lo and ticks[-1] >= hi and 3 <= len(ticks) <= 12
        steps = np.diff(ticks)
        assert np.allclose(steps, steps[0])


# -- the curve on disk -------------------------------------------------------------------------------------------
def test_write_curve_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / CURVE_FILE
    write_curve(path, history(2))
    before = path.read_bytes()
    renames = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (renames.append((Path(a).name, Path(b).name)),
                                                     real_replace(a, b)))
    write_curve(path, history(3))
    [(temporary, target)] = renames
    assert target == CURVE_FILE and temporary.startswith(f".{CURVE_FILE}.") and temporary.endswith(".tmp")
    assert len(polylines(path.read_text())["loss"]) == 3
    # a write that fails half-way leaves the old picture and no temporary file
    path.write_bytes(before)

    def broken(rows):
        raise RuntimeError("disk full")

    monkeypatch.setattr(nertag.pictures.curve, "curve_svg", broken)
    with pytest.raises(RuntimeError):
        write_curve(path, history(4))
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [CURVE_FILE]


def test_training_rewrites_the_curve_after_each_epoch(tmp_path, monkeypatch):
    seen = []
    original = nertag.train.write_curve

    def spy(path, rows):
        original(path, rows)
        metrics = [json.loads(line) for line in (Path(path).parent / "metrics.jsonl").read_text().splitlines()]
        seen.append((Path(path).name, len(metrics), {k: len(v) for k, v in polylines(Path(path).read_text()).items()}))

    monkeypatch.setattr(nertag.train, "write_curve", spy)
    config = Config(hidden=8, char_dim=4, char_hidden=4, word_dim=8, epochs=3, seed=7)
    result = train(config, load_conll(TRAIN_PATH), load_conll(DEV_PATH), model_dir=tmp_path / "m", progress=False,
                   log=lambda _: None, checkpoint_seconds=1e9)
    assert result.epochs == 3
    # written after metrics.jsonl, each time with the epochs so far
    assert seen == [(CURVE_FILE, e, {k: e for k in SERIES}) for e in (1, 2, 3)]
    svg = (tmp_path / "m" / CURVE_FILE).read_text()
    assert f"at epoch {result.best_epoch}" in ET.fromstring(svg).find(f"{SVG}title").text
    assert not list((tmp_path / "m").glob(".*.tmp"))


# -- html ------------------------------------------------------------------------------------------------------
VOID = {"meta", "hr", "br"}


class Checker(html.parser.HTMLParser):
    """Parse a page: every element closed in order; the tags, the text and the entity boxes noted."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.tags, self.text, self.boxes, self.records = [], [], [], [], []
        self._box = self._type = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "p" and attrs.get("class") == "record":
            self.records.append("")
        if tag == "mark":
            self._box = ["", "", attrs]
        if tag == "span" and self._box is not None:
            self._type = True

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (self.stack, tag)
        self.stack.pop()
        if tag == "mark":
            self.boxes.append(tuple(self._box))
            self._box = None
        if tag == "span":
            self._type = None

    def handle_data(self, data):
        if self._box is not None:
            self._box[1 if self._type else 0] += data
        if self._type is None and self.records and "p" in self.stack:
            self.records[-1] += data


def check(page: str) -> Checker:
    checker = Checker()
    checker.feed(page)
    checker.close()
    assert not checker.stack, checker.stack
    return checker


def entity(text, kind, start=None, end=None, token_start=0, token_end=1):
    return Entity(text, kind, token_start, token_end, start, end, None)


def test_html_escapes_hostile_text_and_type_names():
    text = f'He said {HOSTILE} to "Acme & Sons" today'
    start = text.index('"Acme')
    end = start + len('"Acme & Sons"')
    kind = '<img src=x onerror="alert(1)">&\'T'
    tagged = Tagged(text.split(), ["O"] * len(text.split()), [entity(text[start:end], kind, start, end)])
    page = header("html") + format_html(tagged, text) + footer("html")
    for raw in ("<script>", "<b>", "<img", 'onerror="'):
        assert raw not in page
    checker = check(page)
    assert "script" not in checker.tags and "img" not in checker.tags and "b" not in checker.tags
    assert checker.records == [text]  # the text as it came, less the type labels
    [(box_text, box_type, attrs)] = checker.boxes
    assert (box_text, box_type) == ('"Acme & Sons"', kind) and attrs["title"] == kind
    assert attrs["style"] == f"background: {colour(kind)}" and colour(kind).startswith("hsl(")


def test_html_pages_for_text_and_conll_input_parse():
    lines = ["John  Smith lives in Berlin & 'Paris' <now>.", "", "No entities here."]
    records = list(read_text(io.StringIO("\n".join(lines) + "\n")))
    first = records[0]
    john = entity("John  Smith", "PER", 0, 11, 0, 2)
    berlin = next(i for i, t in enumerate(first.tokens) if t.text == "Berlin")
    where = first.tokens[berlin]
    tags = [Tagged(r.words, ["O"] * len(r.words), []) for r in records]
    tags[0] = Tagged(first.words, tags[0].tags, [john, entity("Berlin", "LOC", where.start, where.end, berlin,
                                                              berlin + 1)])
    words = ["Acme", "<Corp>", "&", "co", "."]
    sentence = Sentence(words, ["O"] * 5, [[w] for w in words], docstart="-DOCSTART- -X- O O")
    conll = Tagged(sentence.words, ["B-ORG", "I-ORG", "I-ORG", "I-ORG", "O"], [entity("Acme <Corp> & co", "ORG",
                                                                                        None, None, 0, 4)])
    body = "".join(format_tagged(r, t, "html", Layout()) for r, t in zip(records, tags))
    body += format_tagged(sentence, conll, "html", Layout())
    assert body.count("\n") == 5  # a line per record, and one for the rule that opens the document
    checker = check(header("html") + body + footer("html"))
    assert checker.records == [*lines, "Acme <Corp> & co ."]
    assert [(t, k) for t, k, _ in checker.boxes] == [("John  Smith", "PER"), ("Berlin", "LOC"),
                                                     ("Acme <Corp> & co", "ORG")]
    assert checker.tags.count("hr") == 1
    assert [a["style"] for _, _, a in checker.boxes] == [f"background: {COLOURS[k]}" for k in ("PER", "LOC", "ORG")]


def test_header_and_footer_are_for_html_only():
    assert "html" in OUTPUT_FORMATS
    assert header("html").startswith("<!DOCTYPE html>") and footer("html").endswith("</html>\n")
    assert "Content-Security-Policy" in header("html") and "script-src" not in header("html")
    for other in ("conll", "inline", "jsonl"):
        assert header(other) == footer(other) == ""


def test_tag_writes_html_records(tmp_path):
    text = tmp_path / "in.txt"
    text.write_text(f"John Smith lives in Berlin .\n{HOSTILE}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["tag", "--input", str(text), "--output-format", "html"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count('<p class="record">') == 2 and "<script>" not in result.stdout
    assert result.stdout.startswith(header("html")) and result.stdout.endswith(footer("html"))  # one whole page
    assert check(result.stdout).records[1] == HOSTILE


# -- in a browser ------------------------------------------------------------------------------------------------
def read_png(path: Path) -> np.ndarray:
    """The pixels of an 8-bit RGB or RGBA, non-interlaced PNG as an (H, W, C) array (what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks, idat = 8, {}, b""
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        body = data[at + 8:at + 8 + length]
        at += 12 + length
        if kind == b"IDAT":
            idat += body
        else:
            chunks.setdefault(kind, body)
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert depth == 8 and colour_type in (2, 6) and interlace == 0
    channels = 3 if colour_type == 2 else 4
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, 1 + width * channels)
    out = np.zeros((height, width * channels), np.int32)
    previous = np.zeros(width * channels, np.int32)
    for y in range(height):
        kind, row = raw[y, 0], raw[y, 1:].astype(np.int32)
        if kind == 0:
            line = row
        elif kind == 1:  # Sub: a running sum per channel
            line = np.cumsum(row.reshape(width, channels), axis=0).reshape(-1) % 256
        elif kind == 2:  # Up
            line = (row + previous) % 256
        else:  # Average and Paeth depend on the pixel just decoded: one pixel at a time
            line = row.copy()
            for x in range(width):
                i = slice(x * channels, (x + 1) * channels)
                left = line[(x - 1) * channels:x * channels] if x else np.zeros(channels, np.int32)
                up = previous[i]
                if kind == 3:
                    line[i] = (row[i] + (left + up) // 2) % 256
                else:
                    corner = previous[(x - 1) * channels:x * channels] if x else np.zeros(channels, np.int32)
                    p = left + up - corner
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                    pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, corner))
                    line[i] = (row[i] + pred) % 256
        out[y], previous = line, line
    return out.reshape(height, width, channels)[..., :3].astype(np.uint8)


def screenshot(page: Path, tmp_path: Path, size: str = "1000,700") -> np.ndarray:
    png = tmp_path / (page.stem + ".png")
    subprocess.run([CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", f"--user-data-dir={tmp_path / 'profile'}",
                    f"--screenshot={png}", f"--window-size={size}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert png.is_file() and png.stat().st_size > 1000
    return read_png(png)


def share(pixels: np.ndarray, rgb: str, tolerance: int = 40) -> float:
    """The fraction of pixels within ``tolerance`` (per channel) of the colour ``#rrggbb``."""
    target = np.array([int(rgb[i:i + 2], 16) for i in (1, 3, 5)])
    return float(np.mean(np.all(np.abs(pixels.astype(int) - target) <= tolerance, axis=-1)))


needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed")


@needs_chromium
def test_curve_renders_in_a_browser(tmp_path):
    page = tmp_path / "curve.svg"
    write_curve(page, history(12))
    pixels = screenshot(page, tmp_path, "760,520")
    assert pixels.shape[:2] == (520, 760)
    colours = {tuple(p) for p in pixels.reshape(-1, 3)[::7]}
    assert len(colours) > 20
    assert share(pixels, "#ffffff", 0) > 0.5  # mostly background
    for line in ("#0072b2", "#e69f00", "#009e73", "#d55e00"):  # every series is drawn
        assert share(pixels, line, 30) > 0.0005, line


@needs_chromium
def test_html_renders_in_a_browser_with_boxes_and_no_script(tmp_path):
    page = tmp_path / "tagged.html"
    text = f"John Smith met {HOSTILE} in Berlin ."
    words = text.split()
    john, berlin = entity("John Smith", "PER", 0, 10, 0, 2), entity("Berlin", "LOC", len(text) - 8, len(text) - 2,
                                                                       len(words) - 2, len(words) - 1)
    acme = Sentence(["Acme", "Corp", "rose"], ["O"] * 3, [["Acme"], ["Corp"], ["rose"]])
    page.write_text(header("html")
                    + format_html(Tagged(words, ["O"] * len(words), [john, berlin]), text)
                    + format_tagged(acme, Tagged(acme.words, ["B-ORG", "I-ORG", "O"],
                                                 [entity("Acme Corp", "ORG", None, None, 0, 2)]), "html", Layout())
                    + footer("html"), encoding="utf-8")
    pixels = screenshot(page, tmp_path)
    for kind in ("PER", "LOC", "ORG"):
        assert share(pixels, COLOURS[kind], 6) > 0.001, kind
    dom = subprocess.run([CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox",
                          f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    assert dom.count("<mark ") == 3 and "<script>" not in dom and "&lt;script&gt;" in dom
