"""FigureSetDataset: a dict of figures saves as MatplotlibDataset does and previews in kedro-viz
as one image."""

from __future__ import annotations

import base64
import inspect
import io

import matplotlib.image
import numpy as np
import pytest
from kedro.io.core import DatasetError, Version
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from logifold_kedro.datasets.figure_set import FigureSetDataset

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SAVE_VERSION = "2026-01-01T00.00.00.000Z"


def figure(color: str) -> Figure:
    fig = Figure(figsize=(2, 2))
    FigureCanvasAgg(fig)
    fig.subplots().fill_between([0, 1], [1, 1], color=color)
    return fig


def decoded(preview: str) -> np.ndarray:
    raw = base64.b64decode(preview)
    assert raw.startswith(PNG_MAGIC)
    return matplotlib.image.imread(io.BytesIO(raw))


def test_a_dict_of_figures_previews_as_one_image_of_all_of_them(tmp_path):
    dataset = FigureSetDataset(
        filepath=str(tmp_path / "figures" / "threshold"), version=Version(None, SAVE_VERSION)
    )
    dataset.save({"threshold_clean.png": figure("red"), "threshold_weak.png": figure("blue")})
    saved = sorted(p.name for p in (tmp_path / "figures" / "threshold").rglob("*.png"))
    assert saved == ["threshold_clean.png", "threshold_weak.png"]  # as MatplotlibDataset saves

    image = decoded(dataset.preview())
    # Both figures are in it: pure red and pure blue pixels side by side.
    rgb = image[..., :3]
    assert np.any(np.all(np.isclose(rgb, [1, 0, 0], atol=0.05), axis=-1))
    assert np.any(np.all(np.isclose(rgb, [0, 0, 1], atol=0.05), axis=-1))
    assert image.shape[1] > image.shape[0]  # two panels on one row


def test_a_single_figure_previews_as_its_own_png(tmp_path):
    dataset = FigureSetDataset(
        filepath=str(tmp_path / "accuracy.png"), version=Version(None, SAVE_VERSION)
    )
    dataset.save(figure("green"))
    saved = next((tmp_path / "accuracy.png").rglob("accuracy.png")).read_bytes()
    assert base64.b64decode(dataset.preview()) == saved


def test_preview_type_is_an_image_for_kedro_viz():
    # kedro-viz picks the widget from the name of preview()'s return annotation.
    annotation = inspect.signature(FigureSetDataset.preview).return_annotation
    assert getattr(annotation, "__name__", annotation) == "ImagePreview"


def test_a_folder_without_pngs_says_so(tmp_path):
    dataset = FigureSetDataset(filepath=str(tmp_path / "figures"))
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "notes.txt").write_text("no figures")
    with pytest.raises(DatasetError, match="no PNG figures"):
        dataset.preview()
