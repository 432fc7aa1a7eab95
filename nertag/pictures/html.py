"""Tagged text as a self-contained HTML page: each entity a coloured box with its type, as displaCy shows them.

The page streams like the other output formats: :func:`page_header` once, :func:`format_html` for each
record (one paragraph per line of text or CoNLL sentence), :func:`page_footer` once. Everything that
comes from the input, words and type names alike, is escaped; colours are computed here, never taken
from the input; and the page's Content-Security-Policy forbids scripts and every external resource, so
even markup that slipped through could not run or load anything.
"""
from __future__ import annotations

import html
import zlib

# displaCy's colours for the CoNLL types; other types get a hue of their own from their name.
COLOURS = {"PER": "#aa9cfc", "ORG": "#7aecec", "LOC": "#ff9561", "MISC": "#feca74"}

_STYLE = """\
body { font: 16px/1.5 "DejaVu Sans", Helvetica, Arial, sans-serif; color: #222; background: #fff;
       margin: 2em auto; max-width: 60em; padding: 0 1em; }
h1 { font-size: 1.1em; color: #555; font-weight: normal; border-bottom: 1px solid #ddd; padding-bottom: .4em; }
p.record { white-space: pre-wrap; line-height: 2.5; margin: 0 0 .6em; min-height: 1em; }
hr.document { border: 0; border-top: 1px dashed #bbb; margin: 1.2em 0; }
mark.entity { color: #222; padding: .25em .4em; margin: 0 .1em; border-radius: .35em; line-height: 1;
              -webkit-box-decoration-break: clone; box-decoration-break: clone; }
mark.entity .type { font-size: .6em; font-weight: bold; letter-spacing: .03em; vertical-align: middle;
                    margin-left: .5em; white-space: nowrap; }
"""


def colour(entity_type: str) -> str:
    """The background of ``entity_type``'s boxes: a fixed colour for the CoNLL types, else a light hue."""
    if entity_type in COLOURS:
        return COLOURS[entity_type]
    return f"hsl({zlib.crc32(entity_type.encode('utf-8')) % 360}, 75%, 80%)"


def page_header(title: str = "nertag: tagged text") -> str:
    """The page up to the first record: doctype, head (styles, security policy), the opening of the body."""
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(title)}</title>\n<style>\n{_STYLE}</style>\n</head>\n<body>\n"
            f"<h1>{html.escape(title)}</h1>\n<main>\n")


def page_footer() -> str:
    """The end of the page, after the last record."""
    return "</main>\n</body>\n</html>\n"


def format_html(tagged, text: str | None = None, document: bool = False) -> str:
    """One record as a paragraph, its entities boxed and typed, with its line end.

    Parameters
    ----------
    tagged : nertag.tagger.Tagged
    text : str, optional
        The line the tokens came from: with character offsets on the entities it is echoed as it was,
        spacing and all (the paragraph keeps white space); otherwise the words are joined by spaces.
    document : bool
        The record opens a document (a CoNLL ``-DOCSTART-``): a rule above it marks the boundary.
    """
    pieces = []
    if text is not None and all(e.start is not None for e in tagged.entities):
        at = 0
        for e in tagged.entities:
            pieces += [html.escape(text[at:e.start]), _box(text[e.start:e.end], e)]
            at = e.end
        pieces.append(html.escape(text[at:]))
    else:
        words, i = tagged.words, 0
        for e in tagged.entities:
            pieces += [html.escape(w) + " " for w in words[i:e.token_start]]
            pieces.append(_box(" ".join(words[e.token_start:e.token_end]), e) + " ")
            i = e.token_end
        pieces += [html.escape(w) + " " for w in words[i:]]
        if pieces:
            pieces[-1] = pieces[-1][:-1]  # no space after the last word
    opening = '<hr class="document">\n' if document else ""
    return f'{opening}<p class="record">{"".join(pieces)}</p>\n'


def _box(text: str, entity) -> str:
    """An entity's box: its text, then its type in small bold letters; the confidence, if known, as a tooltip."""
    kind = html.escape(entity.type)
    tip = kind if entity.confidence is None else f"{kind} {entity.confidence:.2f}"
    return (f'<mark class="entity" style="background: {colour(entity.type)}" title="{tip}">'
            f'{html.escape(text)}<span class="type">{kind}</span></mark>')
