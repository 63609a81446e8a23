"""The fetch command for RobustBench checkpoints, up to the download (robustbench's downloader is
replaced: nothing here reaches the network)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from logifold_kedro.torch_lib.checkpoints import save_for_robustbench
from logifold_kedro.torch_lib.fetch_surrogate import FetchError, fetch_checkpoint, main
from logifold_kedro.torch_lib.robustbench_compat import (
    build_zoo_model,
    ensure_autoattack_module,
    official_gdrive_id,
)
from tests.fresh_interpreter import run_fresh

REPO = Path(__file__).resolve().parents[2]


class ReachedDownload(Exception):
    """Raised by the stand-in downloader: the command got as far as the download."""


@pytest.fixture
def downloads(monkeypatch) -> list[tuple[str, Path]]:
    """Calls of robustbench's downloader, which is replaced by one that stops there."""
    ensure_autoattack_module()
    import robustbench.utils

    calls: list[tuple[str, Path]] = []

    def reached(gdrive_id: str, fname_save: str | Path) -> None:
        calls.append((gdrive_id, Path(fname_save)))
        raise ReachedDownload

    monkeypatch.setattr(robustbench.utils, "download_gdrive_new", reached)
    return calls


def test_the_command_downloads_standard_into_the_layout_load_model_reads(tmp_path, downloads):
    with pytest.raises(ReachedDownload):
        main(["--model-dir", str(tmp_path / "robustbench")])
    expected = tmp_path / "robustbench" / "cifar10" / "L2" / "Standard.pt"
    assert downloads == [(official_gdrive_id("Standard"), expected)]


def test_an_unreachable_network_gives_a_clear_message_and_exit_1(
    tmp_path, monkeypatch, capsys, downloads
):
    import robustbench.utils

    def offline(gdrive_id: str, fname_save: str | Path) -> None:
        raise requests.ConnectionError("Failed to resolve 'drive.google.com'")

    monkeypatch.setattr(robustbench.utils, "download_gdrive_new", offline)
    assert main(["--model-dir", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    path = tmp_path / "cifar10" / "L2" / "Standard.pt"
    assert "Google Drive is not reachable from this machine" in error
    assert "Failed to resolve 'drive.google.com'" in error
    assert "machine with internet access" in error and f"copy the file to {path}" in error
    assert not path.exists()


def test_an_existing_checkpoint_is_loaded_not_downloaded(tmp_path, capsys, downloads, wrn_name):
    path = save_for_robustbench(build_zoo_model(wrn_name), tmp_path, wrn_name)
    fetched = fetch_checkpoint(tmp_path, wrn_name)
    assert (fetched.path, fetched.downloaded) == (path, False)
    assert fetched.size_bytes == path.stat().st_size > 0
    assert main(["--model-dir", str(tmp_path), "--model-name", wrn_name]) == 0
    out = capsys.readouterr().out
    assert f"already present at {path}" in out and "MiB" in out
    assert downloads == []


def test_a_checkpoint_that_does_not_load_is_reported(tmp_path, downloads, wrn_name):
    path = tmp_path / "cifar10" / "L2" / f"{wrn_name}.pt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"an interrupted copy")
    with pytest.raises(FetchError, match="does not load as RobustBench's .*Delete it"):
        fetch_checkpoint(tmp_path, wrn_name)
    assert downloads == []


def test_names_without_anything_to_download(tmp_path, capsys, downloads, wrn_name):
    with pytest.raises(FetchError, match="nothing to download.*fit_surrogate"):
        fetch_checkpoint(tmp_path, wrn_name)  # a model of the project's own, not saved yet
    assert main(["--model-dir", str(tmp_path), "--model-name", "Not-In-The-Zoo"]) == 1
    assert "'Not-In-The-Zoo' is not a RobustBench cifar10/L2 model" in capsys.readouterr().err
    assert downloads == []


def test_the_command_imports_no_tensorflow():
    _, loaded = run_fresh(
        """
        from logifold_kedro.torch_lib.fetch_surrogate import main
        assert main(["--model-name", "Not-In-The-Zoo"]) == 1
        import robustbench.utils, gdown  # what fetch_checkpoint imports to download
        """,
        REPO,
        timeout=180,
    )
    assert loaded["torch"] and not loaded["tensorflow"] and not loaded["keras"]
