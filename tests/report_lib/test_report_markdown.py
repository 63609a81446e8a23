"""The pieces of report.md and tables.md (report_lib.report_markdown), the reader of
imm_details and the stage's figure sets (report_lib.stage_figures), on hand-made inputs."""

from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from logifold_kedro.logifold.threshold import threshold_grid
from logifold_kedro.report_lib.imm_details import details_for
from logifold_kedro.report_lib.report_markdown import embedded_png, seeds_note, tables_document
from logifold_kedro.report_lib.stage_figures import entropy_figures, threshold_figures_on_test

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def small_figure() -> Figure:
    figure = Figure(figsize=(2, 2))
    FigureCanvasAgg(figure)
    figure.add_subplot().plot([0, 1], [1, 0])
    return figure


def test_an_embedded_figure_is_a_markdown_image_holding_its_png():
    image = embedded_png(small_figure())
    match = re.fullmatch(r"!\[figure\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", image)
    assert match is not None
    assert base64.b64decode(match.group(1)).startswith(PNG_SIGNATURE)


def test_the_seeds_note_says_when_there_is_no_spread_yet():
    one = seeds_note(pd.DataFrame({"seeds": ["42", "42"]}))
    assert one.startswith("One seed so far (42): no spread yet.")
    # seeds sort as numbers, not as text
    many = seeds_note(pd.DataFrame({"seeds": ["7, 42", "7, 42, 100"]}))
    assert many.startswith("Over the runs of seeds 7, 42, 100 (the latest version of each)")


def test_the_tables_document_has_a_section_per_table_in_order():
    text = tables_document(
        {"first": pd.DataFrame({"a": [1]}), "second": pd.DataFrame({"b": [0.5]})}
    )
    assert re.findall(r"^## (\w+)$", text, flags=re.MULTILINE) == ["first", "second"]
    assert text.index(" a |") < text.index("## second") < text.index("| 0.5000 |")


def details(environments: dict[str, float]) -> dict:
    """imm_details for the test images of the given environments (name -> chosen t)."""
    rng = np.random.default_rng(0)
    flat = {"name": "imm_details"}
    for environment, t in environments.items():
        labels = rng.integers(0, 10, 60)
        flat |= {
            f"{environment}.test.u1_entropy": rng.uniform(0, 1.2, 60),
            f"{environment}.test.u1_pred": np.where(rng.random(60) < 0.7, labels, 0),
            f"{environment}.test.labels": labels,
            f"{environment}.test.threshold": t,
        }
    return flat


def test_details_for_one_environment_and_set_strips_the_prefix():
    flat = details({"union": 0.6, "weak": 0.4})
    union = details_for(flat, "union", "test")
    assert sorted(union) == ["labels", "threshold", "u1_entropy", "u1_pred"]
    assert union["threshold"] == 0.6
    assert details_for(flat, "union", "autoattack") == {}
    assert details_for(flat, "strong", "test") == {}


def test_figure_sets_follow_the_environments_given_and_skip_those_not_evaluated():
    flat = details({"union": 0.6, "clean": 0.9})
    environments = ("clean", "weak", "strong", "union")
    thresholds = threshold_figures_on_test(flat, threshold_grid(), environments)
    assert list(thresholds) == ["threshold_clean.png", "threshold_union.png"]
    entropies = entropy_figures(flat, ("union", "clean"))
    assert list(entropies) == ["entropy_union.png", "entropy_clean.png"]
    (axes,) = entropies["entropy_union.png"].axes
    assert "union" in axes.get_title()
