"""Framework-free helpers of the reporting pipeline: figures (matplotlib, Agg canvas) and tables
(pandas, with a Markdown renderer that needs no ``tabulate``)."""

from .figures import entropy_histogram, grouped_accuracy_bars, threshold_figure
from .tables import compare_with_published, to_markdown

__all__ = [
    "compare_with_published",
    "entropy_histogram",
    "grouped_accuracy_bars",
    "threshold_figure",
    "to_markdown",
]
