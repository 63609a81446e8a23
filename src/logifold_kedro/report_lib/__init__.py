"""Framework-free helpers of the reporting pipeline.

- :mod:`.tables`: pandas tables with intervals and spreads, a Markdown renderer that needs no
  ``tabulate``; :mod:`.comparisons`: our tables beside the paper's published rows.
- :mod:`.claims`: the paper's claims checked against our bootstrap intervals.
- :mod:`.figures`: the report's figures (matplotlib, Agg canvas); :mod:`.stage_figures`: which
  of them the stage draws from ``imm_details`` (:mod:`.imm_details`) and its tables.
- :mod:`.talk_figures`: the figures for slides (:mod:`.talk_style`, :mod:`.talk_accuracy`,
  :mod:`.talk_entropy`, :mod:`.talk_adaptive`, :mod:`.talk_seeds`).
- :mod:`.report_markdown`: ``report.md`` and ``tables.md``; :mod:`.adaptive` (its adaptive
  evaluation section) and :mod:`.threshold_notes` (why a threshold stayed 0) write parts of it.
"""

from .claims import claims_for_reading, claims_table
from .figures import (
    entropy_histogram,
    grouped_accuracy_bars,
    threshold_distribution_figure,
    threshold_figure,
    threshold_figure_panels,
)
from .tables import (
    across_seeds,
    as_counts,
    compare_with_published,
    to_markdown,
    with_intervals,
    with_spread,
)

__all__ = [
    "across_seeds",
    "as_counts",
    "claims_for_reading",
    "claims_table",
    "compare_with_published",
    "entropy_histogram",
    "grouped_accuracy_bars",
    "threshold_distribution_figure",
    "threshold_figure",
    "threshold_figure_panels",
    "to_markdown",
    "with_intervals",
    "with_spread",
]
