"""The release importer as a user runs it: `python -m logifold_kedro.importer ZIP ...` in a tiny
project copy, on small zips in the reference release's layouts."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from logifold_kedro.importer import (
    InvalidArtifactError,
    UnmappedError,
    apgd_entry,
    base_model_name,
    classify_model,
    main,
    merge_apgd_settings,
    parse_apgd_name,
    to_labels,
    to_nhwc_unit_float,
    unsafe_member_reason,
)
from tests.fresh_interpreter import run_fresh
from tests.pipelines.conftest import load, make_project_copy, run_stage

U0 = [
    "resnet_v1_d20",
    "resnet_v1_d56",
    "resnet_v2_d20",
    "resnet_v2_d56",
    "vgg11_raw",
    "vgg13_raw",
    "vgg16_raw",
    "vgg19_raw",
]
RESNETS = U0[:4]
REFERENCE_NAMES = {
    "resnet_v1_d20": "resnet_v1_n3_d20",
    "resnet_v1_d56": "resnet_v1_n9_d56",
    "resnet_v2_d20": "resnet_v2_n3_d20",
    "resnet_v2_d56": "resnet_v2_n9_d56",
}
WEAK_TEST = "test_apgdce_l2_eps0p5_step0p2_it2_rinit4_against_U0.npz"
STRONG_VAL = "val_apgdce_l2_eps0p7_step0p2_it10_rinit4_against_U0.npz"
WHITE_BOX = "test_apgdce_l2_eps0p5_step0p2_it2_rinit4_against_resnet_v2_n9_d56.npz"
AUTOATTACK = "autoattack_torch/x_adv_test_std_l2_eps5.npy"


# --- names and arrays --------------------------------------------------------------------------
def test_reference_model_names_map_to_the_project_names():
    assert base_model_name("resnet_v1_n3_d20") == "resnet_v1_d20"
    assert base_model_name("sp_resnet_v2_n9_d56_best") == "resnet_v2_d56"
    assert base_model_name("VGG16_raw") == "vgg16_raw"
    assert base_model_name("resnet_v1_n3_d200") is None
    assert base_model_name("resnet_v1_n3_d20_vs_vgg11_raw") is None  # two models named


def test_models_are_classified_by_zip_folder_and_name():
    def classify(zip_name, member):
        return classify_model(zip_name, member, U0, RESNETS)

    assert classify("models", "models/resnet_v2_n3_d20.keras") == ("u0", "resnet_v2_d20")
    assert classify("specialized_models", "sp/resnet_v1_n3_d20.keras") == ("sps", "resnet_v1_d20")
    assert classify("release", "sp_resnet_v1_n9_d56.keras") == ("sps", "resnet_v1_d56")
    assert classify("specialized_models", "second_layer/weak/resnet_v1_n3_d20.keras") == (
        "u2_weak",
        "resnet_v1_d20",
    )
    assert classify("specialized_models", "x/second_layer/resnet_v2_n9_d56_union.keras") == (
        "u2_union",
        "resnet_v2_d56",
    )
    with pytest.raises(UnmappedError, match="environment"):
        classify("specialized_models", "second_layer/resnet_v1_n3_d20.keras")
    with pytest.raises(UnmappedError, match="environment"):
        classify("specialized_models", "second_layer/weak/resnet_v1_n3_d20_strong.keras")
    with pytest.raises(UnmappedError, match="no specialists"):
        classify("specialized_models", "sp_vgg11_raw.keras")
    with pytest.raises(UnmappedError, match="no single base model"):
        classify("models", "models/mobilenet.keras")


def test_apgd_file_names_give_entry_and_settings():
    parsed = parse_apgd_name(WEAK_TEST)
    assert parsed == {
        "target": "U0",
        "split": "test",
        "norm": "l2",
        "eps": 0.5,
        "eps_step": 0.2,
        "max_iter": 2,
        "nb_random_init": 4,
    }
    assert apgd_entry(parsed, U0) == "u0_apgd_weak_test"
    assert apgd_entry(parse_apgd_name(STRONG_VAL), U0) == "u0_apgd_strong_val"
    assert apgd_entry(parse_apgd_name(WHITE_BOX), U0) == "resnet_v2_d56_apgd_weak_test"
    name = "train_apgdce_l2_eps0p7_step0p2_it10_rinit4_against_SPs.npz"
    assert apgd_entry(parse_apgd_name(name), U0) == "sps_apgd_strong_train"
    assert apgd_entry(parse_apgd_name(name.replace("SPs", "U1")), U0) == "u1_apgd_strong_train"
    with pytest.raises(UnmappedError, match="neither 2"):
        apgd_entry(parse_apgd_name(WEAK_TEST.replace("it2", "it5")), U0)
    with pytest.raises(UnmappedError, match="L2"):
        apgd_entry(parse_apgd_name(WEAK_TEST.replace("l2", "linf")), U0)
    with pytest.raises(UnmappedError, match="unknown APGD target"):
        apgd_entry(parse_apgd_name(WEAK_TEST.replace("U0", "U7")), U0)
    with pytest.raises(UnmappedError, match="not an APGD file name"):
        parse_apgd_name("features.npz")
    with pytest.raises(InvalidArtifactError, match="max_iter 2 but the file stores 10"):
        merge_apgd_settings(parsed, {"max_iter": np.array(10)})


def test_unsafe_members_are_recognised():
    assert unsafe_member_reason(zipfile.ZipInfo("../evil.keras")) == "'..' in its path"
    assert unsafe_member_reason(zipfile.ZipInfo("a/../../evil.npz")) == "'..' in its path"
    assert unsafe_member_reason(zipfile.ZipInfo("/etc/evil.npz")) == "absolute path"
    assert unsafe_member_reason(zipfile.ZipInfo("C:/evil.npz")) == "absolute path"
    link = zipfile.ZipInfo("models/link.keras")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    assert unsafe_member_reason(link) == "symbolic link"
    assert unsafe_member_reason(zipfile.ZipInfo("models/..keras")) is None


def test_images_become_float32_nhwc_in_unit_range():
    rng = np.random.default_rng(0)
    nchw = rng.random((4, 3, 32, 32), dtype=np.float32)
    x, notes = to_nhwc_unit_float(nchw)
    assert x.shape == (4, 32, 32, 3) and x.flags.c_contiguous
    np.testing.assert_array_equal(x, nchw.transpose(0, 2, 3, 1))
    assert "NCHW" in notes[0]
    x, notes = to_nhwc_unit_float(np.full((2, 32, 32, 3), 255, np.uint8))
    assert x.dtype == np.float32 and x.max() == 1.0 and "1/255" in notes[0]
    x, notes = to_nhwc_unit_float(np.full((1, 32, 32, 3), 1.0 + 1e-7, np.float64))
    assert x.dtype == np.float32 and x.max() == 1.0 and "clipped" in notes[0]
    with pytest.raises(InvalidArtifactError, match="0..255"):
        to_nhwc_unit_float(np.full((1, 32, 32, 3), 200.0, np.float32))
    with pytest.raises(InvalidArtifactError, match="expected"):
        to_nhwc_unit_float(np.zeros((2, 28, 28, 1), np.float32))
    with pytest.raises(InvalidArtifactError, match="NaN"):
        to_nhwc_unit_float(np.full((1, 32, 32, 3), np.nan, np.float32))


def test_labels_become_int64_class_indices():
    y, notes = to_labels(np.eye(10, dtype=np.float32)[[3, 1, 9]], 3)
    assert y.dtype == np.int64 and y.tolist() == [3, 1, 9] and "one-hot" in notes[0]
    y, _ = to_labels(np.array([[2], [0]], np.uint8), 2)
    assert y.tolist() == [2, 0] and y.dtype == np.int64
    with pytest.raises(InvalidArtifactError, match="0..9"):
        to_labels(np.array([1, 10]), 2)
    with pytest.raises(InvalidArtifactError, match="for 3 images"):
        to_labels(np.array([1, 2]), 3)
    with pytest.raises(InvalidArtifactError, match="non-integer"):
        to_labels(np.array([0.5, 1.0]), 2)


# --- zips in the reference layouts -------------------------------------------------------------
def fake_keras(name: str) -> bytes:
    """A stand-in `.keras` archive: the files Keras 3 writes, with a tiny config."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        archive.writestr("config.json", json.dumps({"class_name": "Functional", "name": name}))
        archive.writestr("model.weights.h5", b"weights of " + name.encode())
    return buffer.getvalue()


def npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def write_zip(path: Path, members: dict) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def perturbed(x: np.ndarray, eps: float, seed: int) -> np.ndarray:
    """Images within L2 `eps` of `x`, in [0, 1] (what an attack of `x` looks like)."""
    delta = np.random.default_rng(seed).normal(size=x.shape).astype(np.float32)
    delta *= eps / np.linalg.norm(delta.reshape(len(x), -1), axis=1).reshape(-1, 1, 1, 1)
    return np.clip(x + delta, 0.0, 1.0).astype(np.float32)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def versions(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir())


def data_files(project: Path) -> dict[str, str]:
    return {
        str(p.relative_to(project)): digest(p)
        for p in (project / "data").rglob("*.*")
        if p.is_file()
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A tiny project with its clean splits (`kedro run --pipelines training --tags data`)."""
    project = make_project_copy(tmp_path_factory.mktemp("importer") / "project")
    run_stage(project, "training", tags=["data"])
    return project


@pytest.fixture(scope="module")
def release(project, tmp_path_factory) -> dict:
    """models.zip, specialized_models.zip and adversarial_samples.zip in the reference layouts."""
    folder = tmp_path_factory.mktemp("release")
    clean_test = load(project, "clean_test")
    models = {f"models/{REFERENCE_NAMES.get(name, name)}.keras": fake_keras(name) for name in U0}
    models["models/README.txt"] = b"checkpoints of the reference run"
    specialists = {f"sp_{REFERENCE_NAMES[r]}.keras": fake_keras(f"sp_{r}") for r in RESNETS}
    for environment in ("union", "weak", "strong"):
        for r in RESNETS:
            member = f"second_layer/{environment}/{REFERENCE_NAMES[r]}.keras"
            specialists[member] = fake_keras(f"u2_{environment}_{r}")
    specialists["second_layer/resnet_v1_n3_d20.keras"] = fake_keras("which environment?")
    rng = np.random.default_rng(1)
    weak_test = perturbed(clean_test["x"], 0.45, seed=2)
    strong_val_uint8 = rng.integers(0, 256, size=(12, 32, 32, 3), dtype=np.uint8)
    strong_val_y = rng.integers(0, 10, size=12)
    white_box = rng.random((5, 32, 32, 3), dtype=np.float32)
    autoattack = perturbed(clean_test["x"], 0.5, seed=3)
    adversarial = {
        f"adversarial_samples/apgdce_ART/{WEAK_TEST}": npz_bytes(
            x_adv=weak_test,
            y=clean_test["y"].astype(np.int32),
            split="test",
            norm="2",
            eps=0.5,
            eps_step=0.2,
            max_iter=2,
            nb_random_init=4,
            tag="U0_weak_test",
        ),
        # Names only, no settings in the file; uint8 images and one-hot labels.
        f"adversarial_samples/apgdce_ART/{STRONG_VAL}": npz_bytes(
            x_adv=strong_val_uint8, y=np.eye(10, dtype=np.float32)[strong_val_y]
        ),
        f"adversarial_samples/apgdce_ART/{WHITE_BOX}": npz_bytes(
            x_adv=white_box, y=np.arange(5, dtype=np.int64)
        ),
        f"adversarial_samples/{AUTOATTACK}": npy_bytes(autoattack.transpose(0, 3, 1, 2)),
        "adversarial_samples/notes.txt": b"how the samples were made",
    }
    return {
        "models": write_zip(folder / "models.zip", models),
        "specialized": write_zip(folder / "specialized_models.zip", specialists),
        "adversarial": write_zip(folder / "adversarial_samples.zip", adversarial),
        "clean_test": clean_test,
        "weak_test": weak_test,
        "strong_val": (strong_val_uint8, strong_val_y),
        "white_box": white_box,
        "autoattack": autoattack,
        "folder": folder,
    }


def run_importer(project: Path, monkeypatch, capsys, *args) -> tuple[int, str]:
    monkeypatch.chdir(project)
    code = main([*(str(a) for a in args), "--env", "tiny"])
    return code, capsys.readouterr().out


@pytest.fixture(scope="module")
def first_import(project, release) -> str:
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(project)
        buffer = io.StringIO()
        monkeypatch.setattr(sys, "stdout", buffer)
        zips = [str(release[k]) for k in ("models", "specialized", "adversarial")]
        code = main([*zips, "--env", "tiny"])
    assert code == 0, buffer.getvalue()
    return buffer.getvalue()


# --- the command -------------------------------------------------------------------------------
def test_catalog_loads_the_imported_image_sets(project, release, first_import):
    clean_test = release["clean_test"]
    weak = load(project, "u0_apgd_weak_test")
    assert weak["x"].dtype == np.float32 and weak["x"].shape == (40, 32, 32, 3)
    np.testing.assert_array_equal(weak["x"], release["weak_test"])
    assert weak["y"].dtype == np.int64
    np.testing.assert_array_equal(weak["y"], clean_test["y"])
    assert weak["setting_name"] == "weak" and weak["target"] == "u0"
    assert weak["setting"] == {
        "norm": 2,
        "eps": 0.5,
        "eps_step": 0.2,
        "max_iter": 2,
        "nb_random_init": 4,
    }
    assert weak["l2_max"] == pytest.approx(0.45, abs=1e-3)  # checked against clean_test
    assert weak["source_set"] == "clean_test" and weak["reference_tag"] == "U0_weak_test"

    strong = load(project, "u0_apgd_strong_val")
    x_uint8, labels = release["strong_val"]
    assert strong["x"].dtype == np.float32 and strong["x"].shape == (12, 32, 32, 3)
    np.testing.assert_allclose(strong["x"], x_uint8 / 255.0, atol=1e-6)
    np.testing.assert_array_equal(strong["y"], labels)
    assert strong["setting"]["eps"] == 0.7 and strong["setting"]["max_iter"] == 10
    assert strong["l2_max"] is None  # random images: not an attack of clean_val

    white_box = load(project, "resnet_v2_d56_apgd_weak_test")
    np.testing.assert_array_equal(white_box["x"], release["white_box"])
    assert white_box["target"] == "resnet_v2_d56"

    autoattack = load(project, "autoattack_test")
    assert autoattack["x"].shape == (40, 32, 32, 3) and autoattack["x"].dtype == np.float32
    np.testing.assert_array_equal(autoattack["x"], release["autoattack"])  # NCHW -> NHWC
    np.testing.assert_array_equal(autoattack["y"], clean_test["y"])
    assert autoattack["y"].dtype == np.int64
    report = load(project, "autoattack_transfer_report")
    assert report["n"] == 40 and report["label_source"].startswith("clean_test")


def test_models_are_copied_into_the_versioned_layout_with_one_version(
    project, release, first_import
):
    models = project / "data" / "06_models" / "tiny" / "seed42"
    folders = {
        "u0": U0,
        "sps": RESNETS,
        "u2_union": RESNETS,
        "u2_weak": RESNETS,
        "u2_strong": RESNETS,
    }
    all_versions = set()
    for committee, members in folders.items():
        for member in members:
            folder = models / committee / f"{member}.keras"
            (version,) = versions(folder)
            all_versions.add(version)
            copied = zipfile.ZipFile(folder / version / f"{member}.keras")
            expected = member if committee == "u0" else f"{committee.replace('sps', 'sp')}_{member}"
            assert json.loads(copied.read("config.json"))["name"] == expected
            history = load(project, f"history__{committee}__{member}")
            assert history["imported"] is True and history["skipped"] is False
    adversarial = project / "data" / "07_model_output" / "tiny" / "seed42" / "adversarial"
    all_versions |= {v for f in adversarial.iterdir() for v in versions(f)}
    assert len(all_versions) == 1  # one version timestamp for the whole import
    assert not (models / "u2_union" / "vgg11_raw.keras").exists()


def test_summary_lists_imports_and_unrecognised_files_with_reasons(first_import):
    lines = first_import.splitlines()

    def line_of(text: str) -> str:
        (line,) = [ln for ln in lines if text in ln]
        return line

    assert line_of(f"apgdce_ART/{WEAK_TEST}").split()[0] == "imported"
    assert "u0_apgd_weak_test" in line_of(f"apgdce_ART/{WEAK_TEST}")
    assert "x (40, 32, 32, 3) float32" in line_of(f"apgdce_ART/{WEAK_TEST}")
    assert "models/resnet_v1_n3_d20.keras" in first_import
    assert "uint8 pixels scaled by 1/255" in first_import
    assert "NCHW (N, 3, 32, 32) transposed to NHWC" in first_import
    readme = line_of("models/README.txt")
    assert readme.startswith("skipped") and "not a release artifact (.txt)" in readme
    assert line_of("notes.txt").startswith("skipped")
    unmapped = line_of("second_layer/resnet_v1_n3_d20.keras")
    assert unmapped.startswith("skipped") and "environment" in unmapped
    assert "28 imported" in first_import and "invalid" not in first_import


def test_second_import_adds_a_version_and_leaves_the_first_untouched(
    project, release, first_import, monkeypatch, capsys, tmp_path
):
    import keras

    model = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")]
    )
    model.save(tmp_path / "real.keras")
    real_models = write_zip(
        tmp_path / "models.zip",
        {"models/resnet_v1_n3_d20.keras": (tmp_path / "real.keras").read_bytes()},
    )
    # AutoAttack on the first 10 test images (num_images), its labels beside it.
    clean_test = release["clean_test"]
    with zipfile.ZipFile(release["adversarial"]) as archive:
        weak_member = f"adversarial_samples/apgdce_ART/{WEAK_TEST}"
        adversarial = write_zip(
            tmp_path / "adversarial_samples.zip",
            {
                weak_member: archive.read(weak_member),
                AUTOATTACK: npy_bytes(perturbed(clean_test["x"][:10], 0.5, seed=4)),
                "autoattack_torch/y_test.npy": npy_bytes(clean_test["y"][:10]),
            },
        )
    weak_file = project / "data/07_model_output/tiny/seed42/adversarial/u0_apgd_weak_test.npz"
    model_folder = project / "data/06_models/tiny/seed42/u0/resnet_v1_d20.keras"
    (first,) = versions(weak_file)
    before = digest(weak_file / first / "u0_apgd_weak_test.npz")
    first_model = digest(model_folder / first / "resnet_v1_d20.keras")

    code, out = run_importer(project, monkeypatch, capsys, real_models, adversarial)

    assert code == 0, out
    assert len(versions(weak_file)) == 2 and len(versions(model_folder)) == 2
    assert digest(weak_file / first / "u0_apgd_weak_test.npz") == before
    assert digest(model_folder / first / "resnet_v1_d20.keras") == first_model
    old = load(project, "u0_apgd_weak_test", version=first)
    np.testing.assert_array_equal(old["x"], release["weak_test"])
    autoattack = load(project, "autoattack_test")
    assert autoattack["x"].shape == (10, 32, 32, 3)
    np.testing.assert_array_equal(autoattack["y"], clean_test["y"][:10])
    assert autoattack["label_source"].startswith("clean_test")
    # TensorFlowModelDataset reads the copied file as the latest version.
    loaded = load(project, "model__u0__resnet_v1_d20")
    probs = loaded.predict(release["clean_test"]["x"][:2], verbose=0)
    assert probs.shape == (2, 10)
    np.testing.assert_allclose(probs, model.predict(release["clean_test"]["x"][:2], verbose=0))


def test_unsafe_members_and_bad_artifacts_are_refused(
    project, release, first_import, monkeypatch, capsys, tmp_path
):
    link = zipfile.ZipInfo("models/resnet_v2_n9_d56.keras")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as archive:
        archive.writestr("../vgg11_raw.keras", fake_keras("escape"))
        archive.writestr("/abs/" + WEAK_TEST, b"not read")
        archive.writestr(link, "/etc/passwd")
        archive.writestr("models/vgg13_raw.keras", b"not a zip")  # a corrupt checkpoint
        archive.writestr("a/vgg16_raw.keras", fake_keras("one"))
        archive.writestr("b/vgg16_raw.keras", fake_keras("two"))  # same entry: ambiguous
        archive.writestr(
            "apgdce_ART/" + WEAK_TEST.replace("U0", "U1"),
            npz_bytes(x_adv=np.full((3, 32, 32, 3), 2.0, np.float32), y=np.zeros(3, np.int64)),
        )
        # AutoAttack images that are no attack of clean_test, and no labels beside them.
        archive.writestr(AUTOATTACK, npy_bytes(np.full((40, 32, 32, 3), 0.5, np.float32)))
        archive.writestr("models/vgg19_raw.keras", fake_keras("vgg19_raw"))  # a valid one
    before = data_files(project)

    code, out = run_importer(project, monkeypatch, capsys, bad)

    assert code == 1
    for member, reason in [
        ("../vgg11_raw.keras", "unsafe member ('..' in its path): refused, not read"),
        ("/abs/" + WEAK_TEST, "unsafe member (absolute path)"),
        ("models/resnet_v2_n9_d56.keras", "unsafe member (symbolic link)"),
        ("models/vgg13_raw.keras", "not a .keras archive"),
        ("a/vgg16_raw.keras", "ambiguous"),
        ("b/vgg16_raw.keras", "ambiguous"),
        ("apgdce_ART/" + WEAK_TEST.replace("U0", "U1"), "not [0, 1]"),
        (AUTOATTACK, "labels needed: clean_test cannot give them (the images are not"),
    ]:
        (line,) = [ln for ln in out.splitlines() if f"bad.zip:{member}" in ln.split()[1:2]]
        assert line.startswith("invalid") and reason in line, line
    assert "Exit 1" in out
    after = data_files(project)
    added = sorted(set(after) - set(before))
    assert all("vgg19_raw" in path for path in added) and len(added) == 2  # model + history
    assert {k: v for k, v in after.items() if k in before} == before
    assert not (project.parent / "vgg11_raw.keras").exists()


def test_dry_run_writes_nothing_and_loads_no_framework(project, release, first_import):
    before = data_files(project)
    args = [str(release["models"]), str(release["adversarial"]), "--dry-run", "--env", "tiny"]
    code = f"""
        from logifold_kedro.importer import main
        print("EXIT", main({args!r}))
        """
    out, loaded = run_fresh(code, project, timeout=120)
    assert "EXIT 0" in out, out
    assert "would import" in out and "dry run, nothing written" in out
    assert not any(loaded.values()), loaded
    assert data_files(project) == before


def test_command_line_entry_point_prints_usage():
    result = subprocess.run(
        [sys.executable, "-m", "logifold_kedro.importer", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "--dry-run" in result.stdout and "--env" in result.stdout
