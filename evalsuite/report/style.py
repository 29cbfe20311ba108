"""One look for every figure: sized for a two-column paper, colour-blind-safe colours,
fonts embedded as TrueType in PDFs, and byte-stable files (no timestamps)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

# PDF font subsetting logs every table it prunes at INFO; the report log is not the place
logging.getLogger("fontTools").setLevel(logging.WARNING)

COLUMN = 3.4   # inches: one column of a two-column paper (ICML/NeurIPS/ACL ~3.25-3.5)
FULL = 7.0     # inches: the full text width
DPI = 300
BASELINE = "#6E6E6E"
# Okabe & Ito's colour-blind-safe palette, candidates in this order
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442")
FAMILY_COLORS = {"Benchmarks": "#0072B2", "Instruction following": "#D55E00",
                 "Output distribution": "#009E73"}

RC = {
    "font.family": "DejaVu Sans", "font.size": 8, "axes.titlesize": 8,
    "axes.labelsize": 8, "xtick.labelsize": 7, "ytick.labelsize": 7, "legend.fontsize": 7,
    "legend.frameon": False, "axes.spines.top": False, "axes.spines.right": False,
    "axes.linewidth": 0.6, "xtick.major.width": 0.6, "ytick.major.width": 0.6,
    "xtick.major.size": 2.5, "ytick.major.size": 2.5, "axes.grid": True,
    "grid.linewidth": 0.4, "grid.alpha": 0.4, "lines.linewidth": 1.2,
    "lines.markersize": 4, "errorbar.capsize": 1.5, "pdf.fonttype": 42, "ps.fonttype": 42,
    "axes.titleweight": "bold", "axes.titlelocation": "left", "mathtext.default": "regular",
    "svg.hashsalt": "evalsuite",
}


def colors(n: int) -> list[str]:
    """Baseline grey, then the palette (cycled) for ``n - 1`` candidates."""
    return [BASELINE] + [PALETTE[i % len(PALETTE)] for i in range(max(0, n - 1))]


def plain(text: str) -> str:
    """Text shown as is: a '$' in a response n-gram must not start mathtext."""
    return str(text).replace("$", r"\$")


@contextmanager
def figure(width: float, height: float, **kw) -> Iterator[Figure]:
    """A Figure outside pyplot (no global state, no GUI backend) in the house style."""
    with matplotlib.rc_context(RC):
        yield Figure(figsize=(width, height), layout="constrained", **kw)


def save(fig: Figure, stem: Path) -> list[Path]:
    """STEM.png (300 dpi) and STEM.pdf, written whole or not at all, without dates."""
    from evalsuite.storage.atomic import replace_into

    stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    with matplotlib.rc_context(RC):
        for ext, meta in (("png", {"Software": None}),
                          ("pdf", {"Creator": None, "Producer": None, "CreationDate": None})):
            path = stem.with_suffix(f".{ext}")
            with replace_into(path) as tmp:
                fig.savefig(tmp, format=ext, dpi=DPI, metadata=meta)
            out.append(path)
    return out
