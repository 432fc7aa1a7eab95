"""Pictures for people: the training curve of a model directory and tagged text as an HTML page.

Both are written by hand, as text, with no plotting or templating dependency, and both are
self-contained files a browser shows offline: :mod:`.curve` draws ``metrics.jsonl`` as SVG,
:mod:`.html` highlights entities (``nertag tag --output-format html``).
"""
from __future__ import annotations

from .curve import CURVE_FILE, best_epoch, curve_svg, write_curve
from .html import format_html, page_footer, page_header

__all__ = ["CURVE_FILE", "best_epoch", "curve_svg", "format_html", "page_footer", "page_header", "write_curve"]
