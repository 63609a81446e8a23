"""Report tables: our numbers beside the published ones, and a Markdown renderer.

``to_markdown`` is a small pipe-table writer so the report needs no ``tabulate`` package.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Collection, Mapping, Sequence

import numpy as np
import pandas as pd


def _require_frame(df: pd.DataFrame, name: str) -> None:
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, got {type(df).__name__}.")


def _require_columns(df: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [column for column in columns if column not in df.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing} (has {list(df.columns)}).")


def compare_with_published(
    ours: pd.DataFrame,
    published: pd.DataFrame,
    keys: Sequence[str],
    metrics: Sequence[str],
    without_difference: Collection[str] = (),
) -> pd.DataFrame:
    """Our metrics beside the published ones, matched on ``keys``.

    For each metric m the result has ``m_ours``, ``m_published`` and
    ``m_diff = m_ours - m_published``; when ours has an interval ``m_low, m_high`` it follows as
    ``m_ours_low, m_ours_high``. Rows are ours (left join, our order); a published value
    that is missing (no matching row, no such column, or NaN) gives NaN published and difference.
    A metric named in ``without_difference`` (a count or a total over a set whose size differs
    between the two, say) gets ``m_ours`` and ``m_published`` only.

    Args:
        ours: our results, with the ``keys`` and ``metrics`` columns.
        published: the published results, with the ``keys`` columns (unique per key) and any of
            the ``metrics`` columns.
        keys: columns identifying a row, e.g. ``["environment", "model"]``.
        metrics: numeric columns to compare, e.g. ``["accuracy"]``.
        without_difference: those of ``metrics`` shown side by side without a difference.

    Returns:
        DataFrame with columns ``keys`` then, per metric, ours, published and difference.
    """
    _require_frame(ours, "ours")
    _require_frame(published, "published")
    keys, metrics = list(keys), list(metrics)
    unknown = set(without_difference) - set(metrics)
    if unknown:
        raise ValueError(f"without_difference names {sorted(unknown)}, which are not metrics.")
    if not keys:
        raise ValueError("keys must name at least one column to match rows on.")
    if not metrics:
        raise ValueError("metrics must name at least one column to compare.")
    _require_columns(ours, keys + metrics, "ours")
    _require_columns(published, keys, "published")
    duplicated = published.duplicated(subset=keys, keep=False)
    if duplicated.any():
        rows = published.loc[duplicated, keys].drop_duplicates().to_dict("records")
        raise ValueError(f"published has several rows for the same keys: {rows}.")

    published_metrics = [m for m in metrics if m in published.columns]
    left = ours[keys + metrics].rename(columns={m: f"{m}_ours" for m in metrics})
    right = published[keys + published_metrics].rename(
        columns={m: f"{m}_published" for m in published_metrics}
    )
    merged = left.merge(right, on=keys, how="left", validate="many_to_one")
    columns = list(keys)
    for metric in metrics:
        bounds = [f"{metric}_low", f"{metric}_high"]
        with_bounds = all(b in ours.columns for b in bounds)
        if with_bounds:  # our interval travels with our value
            for bound in ("low", "high"):
                merged[f"{metric}_ours_{bound}"] = ours[f"{metric}_{bound}"].to_numpy()
        ours_column, published_column = f"{metric}_ours", f"{metric}_published"
        if published_column not in merged.columns:
            merged[published_column] = np.nan
        ours_values = pd.to_numeric(merged[ours_column], errors="coerce").astype("float64")
        published_values = pd.to_numeric(merged[published_column], errors="coerce").astype(
            "float64"
        )
        merged[ours_column] = ours_values
        merged[published_column] = published_values
        columns.append(ours_column)
        if with_bounds:
            columns += [f"{ours_column}_low", f"{ours_column}_high"]
        columns.append(published_column)
        if metric not in without_difference:
            merged[f"{metric}_diff"] = ours_values - published_values
            columns.append(f"{metric}_diff")
    return merged[columns].reset_index(drop=True)


def as_counts(df: pd.DataFrame, columns: Collection[str]) -> pd.DataFrame:
    """The table with each of ``columns`` that it has as whole numbers (pandas ``Int64``,
    missing values kept), so counts print as ``13867``, not ``13867.0000``; a CSV round trip
    reads such a column back as floats."""
    _require_frame(df, "df")
    table = df.copy()
    for column in columns:
        if column in table.columns:
            values = pd.to_numeric(table[column], errors="coerce")
            table[column] = values.round().astype("Int64")
    return table


def _format_cell(value: object, floatfmt: str, na_rep: str) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return na_rep
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        return na_rep if np.isnan(number) else format(number, floatfmt)
    # Pipes and line breaks would break the table row.
    return str(value).replace("|", "\\|").replace("\n", " ")


def _is_numeric_column(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _fold_companions(
    df: pd.DataFrame,
    companions_of: Callable[[str], tuple[str, list[str]] | None],
    render: Callable[..., str],
    floatfmt: str,
    na_rep: str,
) -> pd.DataFrame:
    """Replace each column that has companion columns (``companions_of(column)`` gives the
    folded column's name and the companions' names, or None) by one text column: the value,
    then ``render(*formatted companions)`` unless a companion is missing."""
    _require_frame(df, "df")
    table = df.copy()
    for column in list(df.columns):
        found = companions_of(column)
        if found is None or not all(c in df.columns for c in found[1]):
            continue
        name, companions = found
        cells = []
        for value, *extra in zip(table[column], *(table[c] for c in companions), strict=True):
            cell = _format_cell(value, floatfmt, na_rep)
            if not any(pd.isna(e) for e in extra):
                cell += render(*(format(float(e), floatfmt) for e in extra))
            cells.append(cell)
        before = table.columns[: table.columns.get_loc(column)]
        position = sum(c not in companions for c in before)  # where the value column was
        table = table.drop(columns=[column, *companions])
        table.insert(position, name, cells)
    return table


def with_intervals(df: pd.DataFrame, floatfmt: str = ".4f", na_rep: str = "-") -> pd.DataFrame:
    """Fold each column ``c`` that has ``c_low`` and ``c_high`` beside it into one text column
    ``value [low, high]`` (the interval dropped when it is missing), for reading."""
    return _fold_companions(
        df,
        lambda column: (column, [f"{column}_low", f"{column}_high"]),
        lambda low, high: f" [{low}, {high}]",
        floatfmt,
        na_rep,
    )


def with_spread(df: pd.DataFrame, floatfmt: str = ".4f", na_rep: str = "-") -> pd.DataFrame:
    """Fold each pair ``c_mean, c_std`` into one text column ``c`` holding ``mean ± std`` (the
    spread left out when it is missing, e.g. for a single seed), for reading."""
    return _fold_companions(
        df,
        lambda column: (
            (column.removesuffix("_mean"), [f"{column.removesuffix('_mean')}_std"])
            if column.endswith("_mean")
            else None
        ),
        lambda std: f" ± {std}",
        floatfmt,
        na_rep,
    )


def to_markdown(
    df: pd.DataFrame,
    floatfmt: str = ".4f",
    index: bool = False,
    na_rep: str = "-",
    intervals: bool = True,
) -> str:
    """Render a DataFrame as a GitHub-flavoured Markdown pipe table.

    Floats use ``floatfmt`` (a ``format`` spec such as ``".4f"``), integers print as integers,
    missing values as ``na_rep``; numeric columns are right-aligned, others left-aligned.
    Columns are padded to equal width so the source is readable too.

    Args:
        df: the table.
        floatfmt: format spec for floating-point cells.
        index: also render the index as the first column.
        na_rep: text for NaN/None cells.
        intervals: show columns ``c, c_low, c_high`` as one column ``value [low, high]`` and
            ``c_mean, c_std`` as one column ``mean ± std``.

    Returns:
        the table as a string: a header line, an alignment line, one line per row, and a final
        newline.
    """
    _require_frame(df, "df")
    try:
        format(1.5, floatfmt)
    except ValueError as error:
        raise ValueError(f"floatfmt {floatfmt!r} is not a valid format spec: {error}") from error
    table = df.reset_index() if index else df
    if intervals:
        table = with_spread(with_intervals(table, floatfmt, na_rep), floatfmt, na_rep)
    if table.shape[1] == 0:
        raise ValueError("df has no columns to render.")
    headers = [_format_cell(column, floatfmt, na_rep) for column in table.columns]
    numeric = [_is_numeric_column(table.iloc[:, i]) for i in range(table.shape[1])]
    rows = [
        [_format_cell(value, floatfmt, na_rep) for value in record]
        for record in table.itertuples(index=False, name=None)
    ]
    widths = [
        max([3, len(headers[i])] + [len(row[i]) for row in rows]) for i in range(len(headers))
    ]

    def line(cells: list[str]) -> str:
        padded = [
            cell.rjust(width) if is_numeric else cell.ljust(width)
            for cell, width, is_numeric in zip(cells, widths, numeric, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    separator = [
        "-" * (width - 1) + ":" if is_numeric else "-" * width
        for width, is_numeric in zip(widths, numeric, strict=True)
    ]
    lines = [line(headers), "| " + " | ".join(separator) + " |"]
    lines += [line(row) for row in rows]
    return "\n".join(lines) + "\n"


def across_seeds(
    tables: Mapping[int, pd.DataFrame], keys: Sequence[str], measures: Sequence[str]
) -> pd.DataFrame:
    """Mean and standard deviation of each measure over the runs of several seeds.

    For each row key and measure m, over the seeds s whose table has that row:
    ``m_mean = (1/S) sum_s m_s`` and ``m_std = sqrt(sum_s (m_s - m_mean)^2 / (S - 1))`` (NaN
    for one seed); ``n_seeds = S`` and ``seeds`` lists them.

    Args:
        tables: seed -> that seed's table (with the ``keys`` and ``measures`` columns).
        keys: columns identifying a row, e.g. ``["environment", "evaluation"]``.
        measures: numeric columns to aggregate.

    Returns:
        DataFrame with ``keys``, ``n_seeds``, ``seeds`` and ``m_mean, m_std`` per measure, rows
        in the order of the first seed's table.
    """
    if not tables:
        raise ValueError("across_seeds needs the table of at least one seed.")
    keys, measures = list(keys), list(measures)
    frames = []
    for seed, table in sorted(tables.items()):
        _require_frame(table, f"the table of seed {seed}")
        _require_columns(table, keys + measures, f"the table of seed {seed}")
        frames.append(table[keys + measures].assign(seed=seed))
    stacked = pd.concat(frames, ignore_index=True)
    for measure in measures:
        stacked[measure] = pd.to_numeric(stacked[measure], errors="coerce").astype("float64")
    grouped = stacked.groupby(keys, sort=False, dropna=False)
    summary = grouped["seed"].agg(
        n_seeds="count", seeds=lambda s: ", ".join(str(v) for v in sorted(s))
    )
    for measure in measures:
        summary[f"{measure}_mean"] = grouped[measure].mean()
        summary[f"{measure}_std"] = grouped[measure].std(ddof=1)
    return summary.reset_index()
