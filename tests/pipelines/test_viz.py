"""kedro-viz: the lineage of the stages, built as a static site from the tiny project after all
stages ran (previews need data), checked in its API files and opened in a real browser.

The browser part serves the build on localhost and drives headless Chromium (Debian's `chromium`,
installed by `.ci/run`); it keeps screenshots in `test-artifacts/` (`kedro_viz.png`: the whole
lineage with its layers; `kedro_viz_boxes.png`: its first screen without datasets, the paper's data
flow in boxes; one per stage; `kedro_viz_preview.png`: a metrics table's preview).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from logifold_kedro.pipeline_registry import STAGES
from logifold_kedro.pipelines.wiring import LINEAGE_BOXES
from tests.headless_chromium import HeadlessChromium, find_chromium, static_server
from tests.pipelines.conftest import project_copy

#: The layers in data-flow order (conf/base/catalog.yml): kedro-viz draws none if they cycle.
LAYERS = [
    "raw",
    "intermediate",
    "models",
    "model_output",
    "first_generation",
    "second_generation",
    "adaptive",
    "reporting",
]
#: A top-level node or box each stage's view must draw: the stages' nodes are grouped in
#: namespaces by generation and committee, which kedro-viz draws collapsed.
STAGE_NODES = {
    "training": "u0",
    "torch_attacks": "transfer",
    "art_attacks": "apgd",
    "immunization": "experiments",
    "adaptive_attacks": "adaptive",
    "reporting": "report",
}
#: What the first screen of the whole lineage shows: the data flow of the paper in boxes.
FIRST_SCREEN = set(LINEAGE_BOXES)
FRAMEWORK_OF = {
    "training": "tensorflow",
    "torch_attacks": "torch",
    "art_attacks": "tensorflow",
    "immunization": "tensorflow",
    "adaptive_attacks": "tensorflow",
}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# kedro-viz reads its settings from localStorage; its feature tour would cover the graph.
HIDE_FEATURE_HINTS = (
    "try { const key = 'KedroViz'; const state = JSON.parse(localStorage.getItem(key) || '{}');"
    " localStorage.setItem(key, JSON.stringify({...state, showFeatureHints: false})); }"
    " catch (e) {}"
)
# The same with the datasets filtered out (Filters > Element types > Datasets): the boxes alone.
HIDE_DATASETS = (
    "try { const key = 'KedroViz'; const state = JSON.parse(localStorage.getItem(key) || '{}');"
    " localStorage.setItem(key, JSON.stringify({...state, showFeatureHints: false,"
    " nodeType: {disabled: {parameters: true, data: true, task: false}}})); } catch (e) {}"
)
DRAWN = """JSON.stringify({
  selected: document.querySelector('.pipeline-list .dropdown__label span')?.textContent,
  nodes: [...document.querySelectorAll('.pipeline-node__text')].map(e => e.textContent),
  layers: [...document.querySelectorAll('.pipeline-layer-name')].map(e => e.textContent)})"""


@pytest.fixture(scope="module")
def viz_site(reported, tmp_path_factory) -> Path:
    """`kedro viz build --include-previews` of a copy of the tiny project (the build writes
    into the project folder), the site moved to a folder of its own."""
    project = project_copy(reported, tmp_path_factory.mktemp("viz_project"))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "kedro"), "viz", "build", "--include-hooks"]
        + ["--include-previews"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "KEDRO_ENV": "tiny"},
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "Circular dependency" not in result.stdout + result.stderr
    site = tmp_path_factory.mktemp("viz") / "site"
    shutil.move(project / "build", site)
    return site


def api(site: Path, *parts: str) -> dict:
    return json.loads(site.joinpath("api", *parts).read_text())


def data_node(site: Path, name: str) -> dict:
    node = next(n for n in api(site, "main")["nodes"] if n["name"] == name)
    return {**node, **api(site, "nodes", node["id"])}


def test_the_lineage_has_every_stage_and_acyclic_layers(viz_site):
    main = api(viz_site, "main")
    assert set(STAGES) <= {p["id"] for p in main["pipelines"]}
    # An empty list means kedro-viz found a cycle among the layers and draws none.
    assert [layer for layer in main["layers"] if layer in LAYERS] == LAYERS
    unlayered = [n["name"] for n in main["nodes"] if n["type"] == "data" and not n.get("layer")]
    assert not unlayered, f"datasets without a kedro-viz layer in the catalog: {unlayered[:10]}"


@pytest.mark.parametrize("stage", STAGES)
def test_every_node_of_a_stage_carries_its_stage_tag_and_framework_tag(viz_site, stage):
    tasks = [
        n for n in api(viz_site, "main")["nodes"] if n["type"] == "task" and stage in n["pipelines"]
    ]
    assert tasks
    assert all(stage in n["tags"] for n in tasks)
    framework = FRAMEWORK_OF.get(stage)
    tagged = {fw for n in tasks for fw in ("tensorflow", "torch") if fw in n["tags"]}
    assert tagged == ({framework} if framework else set())


def test_tables_reports_and_figures_have_previews(viz_site):
    table = data_node(viz_site, "experiment2_metrics")
    assert table["preview_type"] == "TablePreview"
    assert {"environment", "imm_accuracy"} <= set(table["preview"]["columns"])
    assert len(table["preview"]["data"]) >= 4
    thresholds = data_node(viz_site, "thresholds")
    assert thresholds["preview_type"] == "JSONPreview"
    assert {"clean", "weak", "strong", "union"} <= set(json.loads(thresholds["preview"]))
    probs = data_node(viz_site, "probs__resnet_v1_d20__clean_test")
    assert probs["preview_type"] == "TablePreview" and probs["preview"]
    for figure in ("threshold_plots", "entropy_plots", "accuracy_plot"):
        node = data_node(viz_site, figure)
        assert node["preview_type"] == "ImagePreview", figure
        assert base64.b64decode(node["preview"]).startswith(PNG_MAGIC), figure


@contextmanager
def chromium_running(profile: Path, before_each_page: str) -> Iterator[HeadlessChromium]:
    """A headless Chromium that runs `before_each_page` (kedro-viz settings) on every page."""
    chromium = find_chromium()
    if chromium is None:
        pytest.fail("Chromium is not installed: `apt-get install chromium` (.ci/run does it)")
    with HeadlessChromium(chromium, profile) as chrome:
        chrome.run_before_each_page(before_each_page)
        yield chrome


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with chromium_running(tmp_path_factory.mktemp("chromium"), HIDE_FEATURE_HINTS) as chrome:
        yield chrome


@pytest.fixture(scope="module")
def site_url(viz_site):
    with static_server(viz_site) as url:
        yield url


def show(browser: HeadlessChromium, url: str) -> dict:
    """Open a kedro-viz URL and wait until it has drawn its graph; what it drew."""
    browser.open(url)
    browser.wait_for("document.querySelectorAll('.pipeline-node__text').length > 0", timeout=300)
    # Then kedro-viz fades the nodes in and zooms to fit: wait until nothing moves.
    browser.wait_until_still(
        "JSON.stringify([...document.querySelectorAll('.pipeline-node')].slice(0, 20).map(e => {"
        " const r = e.getBoundingClientRect();"
        " return [Math.round(r.x), Math.round(r.y), getComputedStyle(e).opacity]; }))",
        timeout=60,
    )
    return json.loads(browser.evaluate(DRAWN))


@pytest.mark.parametrize("stage", [*STAGES, "__default__"])
def test_chromium_draws_each_pipeline_with_its_nodes_and_layers(browser, site_url, stage):
    # pid selects the pipeline; sizewarning=false skips the "large graph" question.
    drawn = show(browser, f"{site_url}?pid={stage}&sizewarning=false")
    name = "kedro_viz.png" if stage == "__default__" else f"kedro_viz_{stage}.png"
    png = browser.screenshot(ARTIFACTS / name)
    assert drawn["selected"] == stage
    expected = FIRST_SCREEN if stage == "__default__" else {STAGE_NODES[stage]}
    assert expected <= set(drawn["nodes"]), drawn["nodes"][:30]
    # Per-model training, prediction and attack nodes stay inside their (collapsed) boxes.
    per_model = [n for n in drawn["nodes"] if n.startswith(("train_", "predict_", "apgd_"))]
    assert not per_model, per_model[:10]
    assert drawn["layers"] and set(drawn["layers"]) <= set(LAYERS)
    if stage == "__default__":
        # Collapsed boxes hide the layers of the datasets inside them (the adaptive sets sit in
        # the adaptive box); the others are drawn in data-flow order.
        assert drawn["layers"] == [layer for layer in LAYERS if layer in drawn["layers"]]
        assert len(drawn["layers"]) >= len(LAYERS) - 1
    assert png.startswith(PNG_MAGIC) and len(png) > 20_000


@pytest.fixture(scope="module")
def boxes_browser(tmp_path_factory):
    with chromium_running(tmp_path_factory.mktemp("chromium_boxes"), HIDE_DATASETS) as chrome:
        yield chrome


def test_chromium_draws_the_papers_data_flow_in_boxes(boxes_browser, site_url):
    drawn = show(boxes_browser, f"{site_url}?pid=__default__&sizewarning=false")
    png = boxes_browser.screenshot(ARTIFACTS / "kedro_viz_boxes.png")
    assert set(drawn["nodes"]) == FIRST_SCREEN
    assert png.startswith(PNG_MAGIC) and len(png) > 20_000


def test_chromium_shows_a_metrics_preview(browser, site_url, viz_site):
    table = data_node(viz_site, "experiment2_metrics")
    show(browser, f"{site_url}?pid=reporting&sid={table['id']}&sizewarning=false")
    panel = browser.wait_for(
        "document.querySelector('.pipeline-metadata__preview')?.innerText", timeout=60
    )
    browser.screenshot(ARTIFACTS / "kedro_viz_preview.png")
    assert "imm_accuracy" in panel
