"""The release importer as a user runs it: `python -m logifold_kedro.importer ZIP ...` in a tiny
project copy, on small zips in the reference release's layouts, and on crafted archives: every
model must work, every attacked set must be an attack of its clean split, sizes are checked
before anything is inflated, and a failed import writes nothing."""

from __future__ import annotations

import hashlib
import io
import json
import re
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
    read_npy_checked,
    to_labels,
    to_nhwc_unit_float,
    unsafe_member_reason,
)
from logifold_kedro.run_lock import RunLock
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
        merge_apgd_settings(parsed, {"max_iter": 10})


def test_stored_settings_must_be_numbers():
    parsed = parse_apgd_name(WEAK_TEST)
    with pytest.raises(InvalidArtifactError, match="eps 'abc' in the file is not a number"):
        merge_apgd_settings(parsed, {"eps": "abc"})
    with pytest.raises(InvalidArtifactError, match="max_iter 2.5 in the file is not a whole"):
        merge_apgd_settings(parsed, {"max_iter": 2.5})
    with pytest.raises(InvalidArtifactError, match="not a finite number"):
        merge_apgd_settings(parsed, {"eps_step": float("nan")})


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


def npy_header_only(shape: tuple, dtype: str = "<f4", data: bytes = b"\0" * 64) -> bytes:
    """A .npy whose header declares ``shape`` but which holds only ``data``."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": dtype, "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue() + data  # the header writer writes the magic string too


def test_npy_headers_are_checked_before_any_data_is_read():
    header = npy_header_only((10_000_000, 32, 32, 3))
    with pytest.raises(InvalidArtifactError, match=r"declares shape \(10000000, 32, 32, 3\)"):
        read_npy_checked(io.BytesIO(header), len(header), "x_adv")
    objects = npy_header_only((2,), "|O")
    with pytest.raises(InvalidArtifactError, match="Python objects"):
        read_npy_checked(io.BytesIO(objects), len(objects), "x_adv")
    good = io.BytesIO()
    np.save(good, np.arange(6, dtype=np.int64).reshape(2, 3))
    array = read_npy_checked(io.BytesIO(good.getvalue()), len(good.getvalue()), "y")
    assert array.tolist() == [[0, 1, 2], [3, 4, 5]]


# --- zips in the reference layouts -------------------------------------------------------------
keras = pytest.importorskip("keras")


def keras_model_bytes(name: str, tmp: Path, inputs=(32, 32, 3), classes=10, **options) -> bytes:
    """A real, tiny `.keras` model (Flatten + Dense softmax) named ``name``."""
    layers = [keras.Input(inputs)]
    if options.get("lambda_layer"):
        layers.append(keras.layers.Lambda(lambda t: t * 1.0))
    layers += [keras.layers.Flatten(), keras.layers.Dense(classes, options.get("act", "softmax"))]
    model = keras.Sequential(layers, name=name)
    if options.get("nan"):
        kernel = model.layers[-1].kernel
        kernel.assign(np.full(kernel.shape, np.nan, np.float32))
    path = tmp / f"{name}.keras"
    model.save(path)
    return path.read_bytes()


def with_config(model_bytes: bytes, edit) -> bytes:
    """A copy of a `.keras` archive whose config.json is edited by ``edit(config)``."""
    source = zipfile.ZipFile(io.BytesIO(model_bytes))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "config.json":
                config = json.loads(data)
                edit(config)
                data = json.dumps(config).encode()
            archive.writestr(info.filename, data)
    return out.getvalue()


def fake_keras(name: str) -> bytes:
    """A stand-in `.keras` archive: the files Keras 3 writes, a made-up config, no real model."""
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
        for p in (project / "data").rglob("*")
        if p.is_file() and ".kedro-run.lock" not in p.name
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A tiny project with its clean splits (`kedro run --pipelines training --tags data`)."""
    project = make_project_copy(tmp_path_factory.mktemp("importer") / "project")
    run_stage(project, "training", tags=["data"])
    return project


@pytest.fixture(scope="module")
def models_folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def release(project, models_folder, tmp_path_factory) -> dict:
    """models.zip, specialized_models.zip and adversarial_samples.zip in the reference layouts."""
    folder = tmp_path_factory.mktemp("release")
    clean_test, clean_val = load(project, "clean_test"), load(project, "clean_val")

    def model(name: str) -> bytes:
        return keras_model_bytes(name, models_folder)

    models = {f"models/{REFERENCE_NAMES.get(name, name)}.keras": model(name) for name in U0}
    models["models/README.txt"] = b"checkpoints of the reference run"
    specialists = {f"sp_{REFERENCE_NAMES[r]}.keras": model(f"sp_{r}") for r in RESNETS}
    for environment in ("union", "weak", "strong"):
        for r in RESNETS:
            member = f"second_layer/{environment}/{REFERENCE_NAMES[r]}.keras"
            specialists[member] = model(f"u2_{environment}_{r}")
    specialists["second_layer/resnet_v1_n3_d20.keras"] = model("which_environment")
    weak_test = perturbed(clean_test["x"], 0.45, seed=2)
    strong_val = perturbed(clean_val["x"], 0.6, seed=5)
    strong_val_uint8 = np.round(strong_val * 255).astype(np.uint8)
    white_box = perturbed(clean_test["x"], 0.4, seed=6)
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
            x_adv=strong_val_uint8, y=np.eye(10, dtype=np.float32)[clean_val["y"]]
        ),
        f"adversarial_samples/apgdce_ART/{WHITE_BOX}": npz_bytes(
            x_adv=white_box, y=clean_test["y"]
        ),
        f"adversarial_samples/{AUTOATTACK}": npy_bytes(autoattack.transpose(0, 3, 1, 2)),
        "adversarial_samples/notes.txt": b"how the samples were made",
    }
    return {
        "models": write_zip(folder / "models.zip", models),
        "specialized": write_zip(folder / "specialized_models.zip", specialists),
        "adversarial": write_zip(folder / "adversarial_samples.zip", adversarial),
        "clean_test": clean_test,
        "clean_val": clean_val,
        "weak_test": weak_test,
        "strong_val": strong_val_uint8,
        "white_box": white_box,
        "autoattack": autoattack,
        "folder": folder,
    }


def run_importer(project: Path, monkeypatch, capsys, *args) -> tuple[int, str]:
    monkeypatch.chdir(project)
    code = main([*(str(a) for a in args), "--env", "tiny"])
    return code, capsys.readouterr().out


def row_of(out: str, member: str) -> str:
    """The summary line of the archive member whose path ends with ``member``."""

    pattern = re.compile(rf"^\S.*?[:/]{re.escape(member)}(\s|$)")
    (line,) = [ln for ln in out.splitlines() if pattern.match(ln)]
    return line


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
    assert strong["x"].dtype == np.float32 and strong["x"].shape == (40, 32, 32, 3)
    np.testing.assert_allclose(strong["x"], release["strong_val"] / 255.0, atol=1e-6)
    np.testing.assert_array_equal(strong["y"], release["clean_val"]["y"])
    assert strong["setting"]["eps"] == 0.7 and strong["setting"]["max_iter"] == 10
    assert strong["source_set"] == "clean_val"

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
            assert json.loads(copied.read("config.json"))["config"]["name"] == expected
            history = load(project, f"history__{committee}__{member}")
            assert history["imported"] is True and history["skipped"] is False
    adversarial = project / "data" / "07_model_output" / "tiny" / "seed42" / "adversarial"
    all_versions |= {v for f in adversarial.iterdir() for v in versions(f)}
    assert len(all_versions) == 1  # one version timestamp for the whole import
    assert not (models / "u2_union" / "vgg11_raw.keras").exists()
    assert not list((project / "data").glob(".import-*")), "the staging folder is removed"


def test_summary_lists_imports_and_unrecognised_files_with_reasons(first_import):
    assert row_of(first_import, f"adversarial_samples/apgdce_ART/{WEAK_TEST}").startswith(
        "imported"
    )
    weak = row_of(first_import, f"adversarial_samples/apgdce_ART/{WEAK_TEST}")
    assert "u0_apgd_weak_test" in weak and "x (40, 32, 32, 3) float32" in weak
    assert "checked: loads in safe mode, 8 images -> 10 probabilities" in first_import
    assert "uint8 pixels scaled by 1/255" in first_import
    assert "NCHW (N, 3, 32, 32) transposed to NHWC" in first_import
    readme = row_of(first_import, "models/README.txt")
    assert readme.startswith("skipped") and "not a release artifact (.txt)" in readme
    assert row_of(first_import, "adversarial_samples/notes.txt").startswith("skipped")
    unmapped = row_of(first_import, "second_layer/resnet_v1_n3_d20.keras")
    assert unmapped.startswith("skipped") and "environment" in unmapped
    assert "28 imported" in first_import and "invalid" not in first_import


def test_second_import_adds_a_version_and_leaves_the_first_untouched(
    project, release, first_import, models_folder, monkeypatch, capsys, tmp_path
):
    real_models = write_zip(
        tmp_path / "models.zip",
        {"models/resnet_v1_n3_d20.keras": keras_model_bytes("again", models_folder)},
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
    # The catalog's model entry reads the copied file as the latest version.
    loaded = load(project, "model__u0__resnet_v1_d20")
    assert loaded.name == "again" and loaded.predict(clean_test["x"][:2], verbose=0).shape == (
        2,
        10,
    )


def crafted_models(folder: Path) -> dict[str, bytes]:
    """Models that cannot work here, each under a name that maps to a real entry."""
    good = keras_model_bytes("good", folder)

    def inject(config):  # a layer that names an arbitrary function to call
        config["config"]["layers"][1]["module"] = "os"
        config["config"]["layers"][1]["class_name"] = "system"

    return {
        "models/vgg11_raw.keras": fake_keras("made-up config"),
        "models/vgg13_raw.keras": keras_model_bytes("lambda", folder, lambda_layer=True),
        "models/vgg16_raw.keras": with_config(good, inject),
        "models/vgg19_raw.keras": keras_model_bytes("mnist", folder, (28, 28, 1), classes=5),
        "models/resnet_v1_n3_d20.keras": keras_model_bytes("logits", folder, act=None),
        "models/resnet_v1_n9_d56.keras": keras_model_bytes("diverged", folder, nan=True),
        "models/resnet_v2_n3_d20.keras": good,  # the one valid model: still not written
    }


def test_models_that_cannot_work_are_invalid_and_nothing_is_written(
    project, first_import, models_folder, monkeypatch, capsys, tmp_path
):
    bad = write_zip(tmp_path / "models.zip", crafted_models(models_folder))
    before = data_files(project)

    code, out = run_importer(project, monkeypatch, capsys, bad)

    assert code == 1
    for member, reason in [
        ("models/vgg11_raw.keras", "Keras refused to load it in safe mode"),
        ("models/vgg13_raw.keras", "Keras refused to load it in safe mode"),
        ("models/vgg16_raw.keras", "Keras refused to load it in safe mode"),
        ("models/vgg19_raw.keras", "takes inputs of shape [(None, 28, 28, 1)]"),
        ("models/resnet_v1_n3_d20.keras", "not 10 probabilities per image"),
        ("models/resnet_v1_n9_d56.keras", "NaN or infinite weights"),
    ]:
        line = row_of(out, member)
        assert line.startswith("invalid") and reason in line, line
    assert row_of(out, "models/resnet_v2_n3_d20.keras").startswith("not written")
    assert "Nothing was written: the import is all or nothing" in out
    assert data_files(project) == before


def crafted_sets(clean_test: dict) -> dict[str, bytes]:
    x = clean_test["x"]
    y = clean_test["y"]
    wrong_labels = (y + 1) % 10  # every label differs
    name = "apgdce_ART/" + WEAK_TEST
    return {
        name.replace("U0", "U1"): npz_bytes(x_adv=perturbed(x, 0.4, 1), y=wrong_labels),
        name.replace("U0", "SPs"): npz_bytes(
            x_adv=np.random.default_rng(0).random(x.shape, dtype=np.float32), y=y
        ),
        name.replace("U0", "vgg11_raw"): npz_bytes(x_adv=perturbed(x, 0.4, 2), y=y, eps="abc"),
        name.replace("U0", "vgg13_raw"): npz_bytes(
            x_adv=perturbed(x, 0.4, 3), y=np.array([{"label": 1}] * len(y), dtype=object)
        ),
        name.replace("U0", "vgg16_raw"): npz_bytes(x_adv=perturbed(x, 0.4, 4), y=y),  # valid
        name.replace("U0", "vgg19_raw"): npz_bytes(x_adv=perturbed(x, 0.4, 5), y=y, eps=1e9),
        AUTOATTACK: npy_header_only((10_000_000, 32, 32, 3)),
        "../vgg11_raw.keras": b"never read",
    }


def test_attacked_sets_that_are_not_attacks_of_the_clean_split_are_invalid(
    project, release, first_import, monkeypatch, capsys, tmp_path
):
    bad = write_zip(tmp_path / "adversarial_samples.zip", crafted_sets(release["clean_test"]))
    before = data_files(project)

    code, out = run_importer(project, monkeypatch, capsys, bad)

    assert code == 1
    name = "apgdce_ART/" + WEAK_TEST
    for member, reason in [
        (name.replace("U0", "U1"), "labels differ from clean_test's at 40 of 40 positions"),
        (name.replace("U0", "SPs"), "not an attack of clean_test"),
        (name.replace("U0", "vgg11_raw"), "eps 'abc' in the file is not a number"),
        (name.replace("U0", "vgg13_raw"), "Python objects"),
        (name.replace("U0", "vgg19_raw"), "the file name says eps 0.5 but the file stores"),
        (AUTOATTACK, "its header declares shape (10000000, 32, 32, 3) float32 (114 GiB)"),
        ("../vgg11_raw.keras", "unsafe member ('..' in its path): refused, not read"),
    ]:
        line = row_of(out, member)
        assert line.startswith("invalid") and reason in line, line
    assert row_of(out, name.replace("U0", "vgg16_raw")).startswith("not written")
    assert "Traceback" not in out and data_files(project) == before


def test_members_larger_than_any_artifact_are_refused_before_inflating(
    project, first_import, monkeypatch, capsys, tmp_path
):
    import logifold_kedro.importer.arrays as arrays
    import logifold_kedro.importer.checks as checks
    import logifold_kedro.importer.plan as plan

    for module in (arrays, plan):
        monkeypatch.setattr(module, "MAX_MEMBER_BYTES", 2**20)
    inflated = []
    monkeypatch.setattr(checks.MemberChecks, "copy_member", lambda *a: inflated.append(a))
    member = "apgdce_ART/" + WEAK_TEST
    with zipfile.ZipFile(tmp_path / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, b"\0" * (3 * 2**20))  # 3 MiB of zeros, a few KiB compressed
    code, out = run_importer(project, monkeypatch, capsys, tmp_path / "bomb.zip")
    assert code == 1 and not inflated
    assert "declares 3 MiB uncompressed, more than any release artifact" in row_of(out, member)


def test_a_failure_while_writing_says_exactly_what_was_written(
    project, release, first_import, monkeypatch, capsys, tmp_path
):
    import logifold_kedro.importer.writing as writing

    calls = []
    original = writing.publish_versioned_file

    def fail_second(config, version, source):
        calls.append(config["filepath"])
        if len(calls) == 2:
            raise OSError("No space left on device (simulated)")
        return original(config, version, source)

    monkeypatch.setattr(writing, "publish_versioned_file", fail_second)
    before = data_files(project)
    code, out = run_importer(project, monkeypatch, capsys, release["adversarial"])
    assert code == 1
    assert "writing stopped: " in out and "No space left on device (simulated)" in out
    summary = re.search(r"Written \(complete versions (\S+)\): (.*); not written: (.*)\.", out)
    version, written, not_written = summary[1], summary[2].split(", "), summary[3].split(", ")
    assert len(written) == 1 and len(not_written) == 2, out
    added = sorted(set(data_files(project)) - set(before))
    assert len(added) == 1 and f"{written[0]}.npz/{version}/" in added[0]
    assert {k: v for k, v in data_files(project).items() if k in before} == before


def test_an_import_while_a_run_uses_the_folder_is_refused(
    project, release, first_import, monkeypatch, capsys
):
    before = data_files(project)
    folder = project / "data" / "08_reporting" / "tiny" / "seed42"
    with RunLock(folder, command="kedro run --pipelines immunization"):
        code, out = run_importer(project, monkeypatch, capsys, release["adversarial"])
    assert code == 1 and "another run is using the run folder" in out
    assert "kedro run --pipelines immunization" in out and "Nothing was imported" in out
    assert data_files(project) == before


def test_sets_before_the_clean_splits_are_invalid_with_the_command_to_run(
    tmp_path, release, monkeypatch, capsys
):
    empty = make_project_copy(tmp_path / "empty")
    code, out = run_importer(empty, monkeypatch, capsys, release["adversarial"])
    assert code == 1
    assert "clean_test is not in the catalog yet" in row_of(out, f"apgdce_ART/{WEAK_TEST}")
    assert "run `kedro run --env tiny --pipelines training --tags data` first" in out
    assert not (empty / "data" / "07_model_output").exists()


def test_dry_run_writes_nothing_and_loads_no_framework_for_image_sets(
    project, release, first_import
):
    before = data_files(project)
    args = [str(release["adversarial"]), "--dry-run", "--env", "tiny"]
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
