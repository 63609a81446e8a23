"""Framework-free helpers of the reporting pipeline: figures (matplotlib, Agg canvas), tables
(pandas, with a Markdown renderer that needs no ``tabulate``) and the claims table (the paper's
claims checked against our bootstrap intervals)."""

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
