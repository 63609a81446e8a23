"""Framework-free helpers of the reporting pipeline: figures (matplotlib, Agg canvas) and tables
(pandas, with a Markdown renderer that needs no ``tabulate``)."""

from .figures import (
    entropy_histogram,
    grouped_accuracy_bars,
    threshold_distribution_figure,
    threshold_figure,
)
from .tables import across_seeds, compare_with_published, to_markdown, with_intervals, with_spread

__all__ = [
    "across_seeds",
    "compare_with_published",
    "entropy_histogram",
    "grouped_accuracy_bars",
    "threshold_distribution_figure",
    "threshold_figure",
    "to_markdown",
    "with_intervals",
    "with_spread",
]
