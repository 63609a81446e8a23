"""Tests of the comparison with published numbers and the Markdown renderer."""

import math
import re

import numpy as np
import pandas as pd
import pytest

from logifold_kedro.report_lib import (
    as_counts,
    compare_with_published,
    to_markdown,
    with_intervals,
)


def _ours():
    return pd.DataFrame(
        {
            "environment": ["union", "weak", "clean"],
            "model": ["IMM", "IMM", "IMM"],
            "accuracy": [0.80, 0.90, 0.70],
            "coverage": [0.5, 0.6, 0.9],
        }
    )


def _published():
    return pd.DataFrame(
        {
            "environment": ["weak", "union", "strong"],
            "model": ["IMM", "IMM", "IMM"],
            "accuracy": [0.8583, 0.8758, 0.9088],
        }
    )


def test_compare_with_published_matches_rows_and_computes_differences():
    table = compare_with_published(_ours(), _published(), ["environment", "model"], ["accuracy"])
    assert list(table.columns) == [
        "environment",
        "model",
        "accuracy_ours",
        "accuracy_published",
        "accuracy_diff",
    ]
    assert list(table["environment"]) == ["union", "weak", "clean"]  # our rows, our order
    np.testing.assert_allclose(table["accuracy_published"][:2], [0.8758, 0.8583])
    np.testing.assert_allclose(table["accuracy_diff"][:2], [0.80 - 0.8758, 0.90 - 0.8583])
    # no published row for "clean"
    assert math.isnan(table["accuracy_published"][2]) and math.isnan(table["accuracy_diff"][2])


def test_a_metric_absent_from_the_published_table_gives_nan():
    table = compare_with_published(
        _ours(), _published(), ["environment", "model"], ["accuracy", "coverage"]
    )
    assert table["coverage_published"].isna().all() and table["coverage_diff"].isna().all()
    np.testing.assert_allclose(table["coverage_ours"], [0.5, 0.6, 0.9])


def test_metrics_without_a_difference_stand_side_by_side():
    ours = _ours().assign(n=[300, 100, 100])
    published = _published().assign(n=[10000, 30000, 10000])
    table = compare_with_published(
        ours, published, ["environment", "model"], ["n", "accuracy"], without_difference=["n"]
    )
    assert list(table.columns) == [
        "environment",
        "model",
        "n_ours",
        "n_published",
        "accuracy_ours",
        "accuracy_published",
        "accuracy_diff",
    ]
    assert table["n_published"].tolist()[:2] == [30000, 10000]
    with pytest.raises(ValueError, match="not metrics"):
        compare_with_published(
            ours, published, ["environment"], ["accuracy"], without_difference=["n"]
        )


def test_counts_print_as_whole_numbers_and_keep_missing_values():
    table = pd.DataFrame({"name": ["a", "b"], "n_ours": [13867.0, np.nan], "x": [0.5, 0.25]})
    counted = as_counts(table, ["n_ours", "absent"])
    assert str(counted["n_ours"].dtype) == "Int64" and pd.isna(counted["n_ours"][1])
    assert table["n_ours"].dtype == np.float64  # the input is left alone
    text = to_markdown(counted)
    assert "13867 " in text and "13867.0" not in text and "0.5000" in text
    assert text.splitlines()[3].split("|")[2].strip() == "-"


def test_compare_with_published_validates_its_inputs():
    with pytest.raises(ValueError, match="lacks columns"):
        compare_with_published(_ours(), _published(), ["environment", "split"], ["accuracy"])
    duplicated = pd.concat([_published(), _published().iloc[[0]]])
    with pytest.raises(ValueError, match="several rows"):
        compare_with_published(_ours(), duplicated, ["environment", "model"], ["accuracy"])
    with pytest.raises(ValueError, match="DataFrame"):
        compare_with_published({"a": 1}, _published(), ["environment"], ["accuracy"])


def test_markdown_table_shape_and_formatting():
    df = pd.DataFrame(
        {
            "environment": ["union", "we|ak"],
            "n": np.array([30000, 10000], dtype=np.int64),
            "accuracy": [0.87584, np.nan],
            "reached": [True, False],
        }
    )
    text = to_markdown(df)
    lines = text.rstrip("\n").split("\n")
    assert len(lines) == 2 + len(df)
    # same number of unescaped pipes on every line: columns + 1
    for line in lines:
        assert line.replace("\\|", "").count("|") == df.shape[1] + 1
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header == ["environment", "n", "accuracy", "reached"]
    alignment = [cell.strip() for cell in lines[1].strip("|").split("|")]
    assert alignment[0].endswith("-") and alignment[1].endswith(":")  # text left, numbers right
    assert alignment[2].endswith(":") and not alignment[3].endswith(":")
    assert "0.8758" in lines[2] and "30000" in lines[2] and "30000.0" not in lines[2]
    cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", lines[3])[1:-1]]
    assert cells == ["we\\|ak", "10000", "-", "False"]  # escaped pipe, NaN shown as "-"
    assert "True" in lines[2] and "False" in lines[3]
    # all rows have the same width (padded columns)
    assert len({len(line) for line in lines}) == 1


def test_markdown_options():
    df = pd.DataFrame({"accuracy": [0.5]}, index=pd.Index(["weak"], name="environment"))
    text = to_markdown(df, floatfmt=".2f", index=True, na_rep="n/a")
    assert text.splitlines()[0].split("|")[1].strip() == "environment"
    assert "0.50" in text and "0.5000" not in text
    assert to_markdown(pd.DataFrame({"x": [np.nan]}), na_rep="n/a").splitlines()[2] == "| n/a |"
    with pytest.raises(ValueError, match="floatfmt"):
        to_markdown(df, floatfmt="%d")
    with pytest.raises(ValueError, match="no columns"):
        to_markdown(pd.DataFrame())


def test_our_intervals_travel_beside_our_values():
    ours = _ours().assign(accuracy_low=[0.7, 0.85, 0.6], accuracy_high=[0.9, 0.95, np.nan])
    table = compare_with_published(ours, _published(), ["environment", "model"], ["accuracy"])
    assert list(table.columns) == [
        "environment",
        "model",
        "accuracy_ours",
        "accuracy_ours_low",
        "accuracy_ours_high",
        "accuracy_published",
        "accuracy_diff",
    ]
    assert table["accuracy_ours_low"].tolist() == [0.7, 0.85, 0.6]


def test_intervals_fold_into_one_readable_column():
    table = pd.DataFrame(
        {
            "environment": ["union", "clean"],
            "acc": [0.8, 0.7],
            "acc_low": [0.75, np.nan],
            "acc_high": [0.85, 0.72],
            "n": [10, 20],
        }
    )
    folded = with_intervals(table, ".2f")
    assert list(folded.columns) == ["environment", "acc", "n"]
    assert folded["acc"].tolist() == ["0.80 [0.75, 0.85]", "0.70"]  # half an interval: none
    text = to_markdown(table, floatfmt=".2f")
    assert "0.80 [0.75, 0.85]" in text and "acc_low" not in text
    assert "acc_low" in to_markdown(table, intervals=False)
    table.loc[0, "acc"] = np.nan
    assert with_intervals(table)["acc"].tolist()[0].startswith("- [")


def test_spread_folds_in_place_and_leaves_out_a_missing_std():
    from logifold_kedro.report_lib.tables import with_spread

    table = pd.DataFrame(
        {
            "acc_std": [0.1, np.nan],  # the spread before its mean: the mean's place is kept
            "env": ["a", "b"],
            "acc_mean": [0.5, 0.7],
            "n_seeds": [2, 1],
        }
    )
    folded = with_spread(table, ".2f")
    assert list(folded.columns) == ["env", "acc", "n_seeds"]
    assert folded["acc"].tolist() == ["0.50 ± 0.10", "0.70"]
    unpaired = with_spread(table.drop(columns="acc_std"))
    assert list(unpaired.columns) == ["env", "acc_mean", "n_seeds"]


def test_across_seeds_mean_std_and_missing_rows():
    from logifold_kedro.report_lib import across_seeds

    seed1 = pd.DataFrame({"env": ["a", "b"], "acc": [0.5, 0.7]})
    seed2 = pd.DataFrame({"env": ["a"], "acc": [0.7]})
    table = across_seeds({2: seed2, 1: seed1}, ["env"], ["acc"])
    assert table["env"].tolist() == ["a", "b"]
    a, b = table.iloc[0], table.iloc[1]
    assert a["n_seeds"] == 2 and a["seeds"] == "1, 2"
    assert a["acc_mean"] == pytest.approx(0.6) and a["acc_std"] == pytest.approx(0.1414, abs=1e-4)
    assert b["n_seeds"] == 1 and b["acc_mean"] == 0.7 and math.isnan(b["acc_std"])
    text = to_markdown(table, floatfmt=".2f")
    assert "0.60 ± 0.14" in text and "| 0.70 " in text.replace("0.70  ", "0.70 ")
    with pytest.raises(ValueError, match="at least one"):
        across_seeds({}, ["env"], ["acc"])
    with pytest.raises(ValueError, match="lacks columns"):
        across_seeds({1: seed1}, ["env"], ["coverage"])
