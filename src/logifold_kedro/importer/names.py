"""Names of the reference release: which catalog entry an archive member becomes.

Pure functions of file and folder names (nothing is read); the entry names, splits, settings and
environments are the project's (``pipelines.naming``). Model names (``resnet_v1_n3_d20`` ->
``resnet_v1_d20``), committees (base models, specialists, U2' of an environment), APGD file names
(split, norm, eps, step, iterations, restarts, target), and which members are unsafe to read.
"""

from __future__ import annotations

import math
import re
import stat
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

from logifold_kedro.pipelines.naming import (
    SETTINGS,
    SPLITS,
    U2_ENVIRONMENTS,
    apgd_source,
    image_set,
)

NUM_CLASSES = 10
IMAGE_SHAPE = (32, 32, 3)
# Iterations of the reference's APGD file names -> the project's settings, weak and strong
# (docs/method.md).
ITERATIONS_TO_SETTING = dict(zip((2, 10), SETTINGS, strict=True))
COMMITTEE_TARGETS = {"u0": "u0", "u1": "u1", "sps": "sps", "sp": "sps"}

_RESNET = re.compile(r"resnet[_-]?v(?P<version>[12])(?:[_-]n\d+)?[_-]d(?P<depth>20|56)(?!\d)")
_VGG = re.compile(r"vgg[_-]?(?P<config>11|13|16|19)(?!\d)")
_SECOND_LAYER = re.compile(r"^(second[_-]?(layer|generation)|u2)$")
_SPECIALIST_TOKENS = {"sp", "sps", "specialist", "specialists", "specialized", "specialised"}
MACOS_JUNK = re.compile(r"(^|/)(__MACOSX/|\._[^/]*$|\.DS_Store$)")


class UnmappedError(ValueError):
    """An archive member that is not (or not recognisably) a release artifact; skipped."""


class InvalidArtifactError(ValueError):
    """A release artifact that cannot be imported as it is (wrong shape, range, labels...)."""


# --- names -------------------------------------------------------------------------------------
def tokens(text: str) -> list[str]:
    """Lower-case alphanumeric words of a path or name: ``"second_layer/U2-weak"`` ->
    ``["second", "layer", "u2", "weak"]``."""
    return [t for t in re.split(r"[^a-z0-9]+", text.lower()) if t]


def base_model_name(text: str) -> str | None:
    """The project's base-model name mentioned in a reference name, or None.

    ``resnet_v1_n3_d20`` -> ``resnet_v1_d20``, ``resnet_v2_n9_d56`` -> ``resnet_v2_d56``,
    ``vgg16_raw`` -> ``vgg16_raw``. None when no model, or several different ones, are named.
    """
    text = text.lower()
    found = {f"resnet_v{m['version']}_d{m['depth']}" for m in _RESNET.finditer(text)}
    found |= {f"vgg{m['config']}_raw" for m in _VGG.finditer(text)}
    return found.pop() if len(found) == 1 else None


def classify_model(
    zip_name: str, member: str, u0_names: Sequence[str], resnet_names: Sequence[str]
) -> tuple[str, str]:
    """(committee, base model) of a ``.keras`` archive member.

    Under a ``second_layer/`` folder: U2' (``u2_<environment>``, the environment named once in
    the folders or the file name); else a specialist (``sps``) when the zip or a folder or the
    file is named for specialists (``specialized_models.zip``, ``sp_...``); else a base model
    (``u0``). Raises UnmappedError with the reason otherwise.
    """
    path = PurePosixPath(member)
    folders = [p.lower() for p in path.parts[:-1]]
    base = base_model_name(path.stem)
    if base is None:
        raise UnmappedError(
            f"no single base model name in {path.name!r} (expected e.g. resnet_v1_n3_d20, "
            "resnet_v2_n9_d56, vgg11_raw)"
        )
    if base not in u0_names:
        raise UnmappedError(f"{base} is not a base model of this project (u0_models: {u0_names})")
    if any(_SECOND_LAYER.match(folder) for folder in folders):
        words = {t for part in [*folders, path.stem] for t in tokens(part)}
        named = sorted(words & set(U2_ENVIRONMENTS))
        if len(named) != 1:
            raise UnmappedError(
                f"a second-layer (U2') model, but its path names {named or 'no'} environment; "
                f"put it under a folder named after one of {U2_ENVIRONMENTS}, or rename the file"
            )
        committee = f"u2_{named[0]}"
    elif _SPECIALIST_TOKENS & {t for part in [zip_name, *folders, path.stem] for t in tokens(part)}:
        committee = "sps"
    else:
        committee = "u0"
    if committee != "u0" and base not in resnet_names:
        raise UnmappedError(f"{base} has no specialists in this project (only the ResNets do)")
    return committee, base


def _decimal(text: str) -> float:
    """``"0p5"`` -> 0.5 (the reference writes decimal points as ``p``)."""
    return float(text.replace("p", "."))


def parse_apgd_name(filename: str) -> dict[str, Any]:
    """Split, norm, settings and target in a reference APGD file name.

    ``test_apgdce_l2_eps0p5_step0p2_it2_rinit4_against_U0.npz`` -> ``{"split": "test",
    "norm": "l2", "eps": 0.5, "eps_step": 0.2, "max_iter": 2, "nb_random_init": 4,
    "target": "U0"}``. Fields missing from the name are left out; raises UnmappedError when the
    name is not an APGD file name (no ``apgd`` or no ``against_<target>``).
    """
    stem = PurePosixPath(filename).stem
    lowered = stem.lower()
    target = re.search(r"against_(?P<target>[A-Za-z0-9_]+)$", stem)
    if "apgd" not in lowered or target is None:
        raise UnmappedError(
            f"{filename!r} is not an APGD file name like "
            "test_apgdce_l2_eps0p5_step0p2_it2_rinit4_against_U0.npz"
        )
    parsed: dict[str, Any] = {"target": target["target"]}
    first = tokens(stem)[0]
    if first in SPLITS:
        parsed["split"] = first
    patterns = {
        "norm": (r"_(l2|linf|l1)(?=_)", str),
        "eps": (r"_eps(\d+(?:p\d+)?)(?=_)", _decimal),
        "eps_step": (r"_step(\d+(?:p\d+)?)(?=_)", _decimal),
        "max_iter": (r"_it(\d+)(?=_)", int),
        "nb_random_init": (r"_rinit(\d+)(?=_)", int),
    }
    for key, (pattern, convert) in patterns.items():
        match = re.search(pattern, lowered)
        if match:
            parsed[key] = convert(match[1])
    return parsed


def apgd_target(raw: str, u0_names: Sequence[str]) -> str:
    """The project's APGD target for a reference ``against_<X>``: ``U0`` -> ``u0``, ``U1`` ->
    ``u1``, ``SPs`` -> ``sps``, a base model name -> that model. Raises UnmappedError."""
    words = tokens(raw)
    if words and words[0] in COMMITTEE_TARGETS and len(words) == 1:
        return COMMITTEE_TARGETS[words[0]]
    base = base_model_name(raw)
    if base is not None and base in u0_names:
        return base
    raise UnmappedError(
        f"unknown APGD target {raw!r}; expected U0, U1, SPs or a base model name "
        f"({', '.join(u0_names)})"
    )


def apgd_entry(settings: Mapping[str, Any], u0_names: Sequence[str]) -> str:
    """The image-set entry ``<target>_apgd_<setting>_<split>`` of parsed APGD settings (needs
    ``target``, ``split`` and ``max_iter``; a ``norm`` other than L2 is not used by the
    pipelines). Raises UnmappedError."""
    if "norm" in settings and not _norm_is_l2(settings["norm"]):
        raise UnmappedError(f"norm {settings['norm']}: the pipelines use L2 APGD only")
    split, max_iter = settings.get("split"), settings.get("max_iter")
    if split not in SPLITS:
        raise UnmappedError(f"split {split!r} unknown; expected one of {SPLITS}")
    if max_iter is None or int(max_iter) not in ITERATIONS_TO_SETTING:
        raise UnmappedError(f"max_iter {max_iter} is neither 2 (weak) nor 10 (strong)")
    target = apgd_target(str(settings["target"]), u0_names)
    return image_set(apgd_source(target, ITERATIONS_TO_SETTING[int(max_iter)]), split)


def _number(key: str, value: Any, convert: type) -> Any:
    """``value`` as a finite ``convert`` (float or int); InvalidArtifactError naming ``key``."""
    try:
        number = convert(value)
        if convert is int and float(value) != number:
            raise ValueError("not a whole number")
    except (TypeError, ValueError, OverflowError) as error:
        raise InvalidArtifactError(
            f"{key} {value!r} in the file is not a {'whole ' if convert is int else ''}number"
        ) from error
    if not math.isfinite(number):
        raise InvalidArtifactError(f"{key} {value!r} in the file is not a finite number")
    return number


def merge_apgd_settings(named: Mapping[str, Any], stored: Mapping[str, Any]) -> dict[str, Any]:
    """The APGD settings of a reference file: the values stored in it, checked against those in
    its file name (``apgd_entry`` then checks norm, split and iterations).

    Raises InvalidArtifactError when the name and the file disagree or a stored setting is not a
    number, UnmappedError when eps is in neither.
    """
    numbers = {"eps": float, "eps_step": float, "max_iter": int, "nb_random_init": int}
    settings = dict(named)
    for key, value in stored.items():
        if key in numbers:
            value = _number(key, value, numbers[key])
        if key in named and key != "norm":
            if key == "split":
                same = str(value) == str(named[key])
            else:
                same = math.isclose(float(value), float(named[key]), rel_tol=1e-6)
            if not same:
                raise InvalidArtifactError(
                    f"the file name says {key} {named[key]} but the file stores {value}"
                )
        settings[key] = value
    if settings.get("eps") is None:
        raise UnmappedError("eps unknown (neither in the file name nor in the file)")
    for key, convert in numbers.items():
        if settings.get(key) is not None:
            settings[key] = _number(key, settings[key], convert)
    if settings["eps"] <= 0:
        raise InvalidArtifactError(f"eps {settings['eps']} is not positive")
    settings.setdefault("eps_step", None)
    return settings


def unsafe_member_reason(info: zipfile.ZipInfo) -> str | None:
    """Why an archive member must not be read (absolute path, ``..``, link), or None."""
    name = info.filename
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if ".." in re.split(r"[/\\]", name):
        return "'..' in its path"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symbolic link"
    if "\x00" in name:
        return "NUL byte in its name"
    return None


def _norm_is_l2(value: Any) -> bool:
    return str(value).strip().lower() in {"2", "2.0", "l2"}
