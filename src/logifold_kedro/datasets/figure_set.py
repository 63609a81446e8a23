"""``FigureSetDataset``: kedro-datasets' ``MatplotlibDataset`` with a kedro-viz preview for a
dict (or list) of figures.

``MatplotlibDataset`` saves a dict of figures as one PNG per key in a folder, but its
``preview()`` opens the saved path as a single file, so kedro-viz shows nothing for such an
entry. Here the preview of a folder is its PNGs side by side (in name order) in one image; a
single figure previews as before.

Saves are atomic (``datasets.atomic``): the PNG, or the folder of PNGs, is written under a hidden
partial name and renamed when every figure is written, so a run killed mid-save never leaves a
version with some of its figures as the latest.
"""

from __future__ import annotations

import base64
import io

import matplotlib.image
import numpy as np
from kedro.io.core import DatasetError, get_filepath_str
from kedro_datasets._typing import ImagePreview
from kedro_datasets.matplotlib import MatplotlibDataset
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from logifold_kedro.datasets.atomic import AtomicSaveMixin

#: Panels per row of the preview image.
PREVIEW_COLUMNS = 2
#: Width and height of one panel in the preview, inches at PREVIEW_DPI.
PREVIEW_PANEL_INCHES = (4.0, 3.0)
PREVIEW_DPI = 80


class FigureSetDataset(AtomicSaveMixin, MatplotlibDataset):
    """Saves a figure, a list or a dict of figures as ``MatplotlibDataset`` does, atomically;
    previews a folder of PNGs as one image."""

    def preview(self) -> ImagePreview:
        """Base64 PNG for kedro-viz: the saved figure, or the folder's PNGs on one grid."""
        load_path = get_filepath_str(self._get_load_path(), self._protocol)
        if not self._fs.isdir(load_path):
            return super().preview()
        paths = sorted(p for p in self._fs.ls(load_path, detail=False) if p.endswith(".png"))
        if not paths:
            raise DatasetError(f"{load_path} holds no PNG figures to preview")
        panels = []
        for path in paths:
            with self._fs.open(path, mode="rb") as png:
                panels.append((path.rsplit("/", 1)[-1], matplotlib.image.imread(png)))
        return ImagePreview(base64.b64encode(_grid_png(panels)).decode("ascii"))


def _grid_png(panels: list[tuple[str, np.ndarray]]) -> bytes:
    """The images on a grid of PREVIEW_COLUMNS columns, each titled with its file name."""
    columns = min(PREVIEW_COLUMNS, len(panels))
    rows = -(-len(panels) // columns)
    width, height = PREVIEW_PANEL_INCHES
    # A bare Figure with its own canvas: no pyplot state, nothing left open.
    figure = Figure(figsize=(width * columns, height * rows), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, (name, image) in zip(axes.flat, panels, strict=False):
        ax.imshow(image)
        ax.set_title(name, fontsize=8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=PREVIEW_DPI)
    return buffer.getvalue()
