"""AutoAttack (Croce & Hein) on float32 NHWC images, with either published package.

Two packages carry the same attacks with different APIs (docs/stack.md, trap 1):

- GitHub ``fra31/auto-attack``, module ``autoattack``: ``AutoAttack(model, norm=, eps=, seed=,
  verbose=, attacks_to_run=, version=, device=)`` and ``run_standard_evaluation(x, y, bs=)``
  returning the adversarial images (a tuple with the labels when ``return_labels=True``).
- PyPI ``pyautoattack``: ``AutoAttack(model, *, norm, eps, version, seed, device, attacks)``
  and ``run_standard_evaluation(x, y, *, batch_size)`` returning ``(x_adv, y_adv)``.

``run_autoattack`` uses the real ``autoattack`` when it is installed (not our alias of
``pyautoattack``, see ``robustbench_compat``), else ``pyautoattack``. Both seed every attack
run (``torch.random.manual_seed(seed)`` per batch), so one seed gives one result.

The images are attacked in chunks of ``chunk_size`` (a multiple of ``batch_size``) so progress
can be logged with an ETA; within a chunk AutoAttack runs its attacks in sequence, each on the
points still classified correctly, exactly as in one call.

Perturbation bound. For an ``Lp`` threat model every returned image must satisfy
``||x_adv - x||_p <= eps`` and ``0 <= x_adv <= 1``. AutoAttack projects in float32, so a norm
can exceed ``eps`` by rounding (~1e-7 relative). Such images are projected back: for L2 and L1
``delta <- delta * eps / ||delta||_p`` (the Euclidean projection for L2), for Linf ``delta`` is
clipped to ``[-eps, eps]``; then ``x + delta`` is clipped to [0, 1] (which only shrinks
``|delta_i|``, as x is in [0, 1]). As float32 cannot hold every point of the sphere, the radius
used is a hair (1e-7) below eps when needed. An excess larger than float error
(``> 1e-3·eps``) is not rounding: it raises instead.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import logging
import math
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from logifold_kedro.data.perturbations import perturbation_norms
from logifold_kedro.progress import format_duration
from logifold_kedro.torch_lib.robustbench_compat import ALIAS_NAME, ALIAS_TARGET
from logifold_kedro.torch_lib.setup import resolve_device
from logifold_kedro.torch_lib.surrogate import (
    check_images,
    predict_logits,
    to_nchw_tensor,
    to_nhwc_array,
)

logger = logging.getLogger(__name__)

NORMS = ("L2", "Linf", "L1")
VERSIONS = ("standard", "plus", "rand", "custom")
ATTACKS = ("apgd-ce", "apgd-dlr", "apgd-t", "fab", "fab-t", "square")
# Excess over eps accepted as float rounding (relative to eps) and projected back.
ROUNDING_TOLERANCE = 1e-3


def autoattack_class() -> tuple[type, str]:
    """The AutoAttack class to use and its package: ``"autoattack"`` (GitHub) or ``"pyautoattack"``.

    The GitHub package wins when it is really installed; a module named ``autoattack`` that is
    our alias of pyautoattack counts as pyautoattack.
    """
    module = sys.modules.get(ALIAS_NAME)
    if module is None:
        try:
            module = importlib.import_module(ALIAS_NAME)
        except ModuleNotFoundError as error:
            if error.name != ALIAS_NAME:
                raise
            module = None
    if module is not None and getattr(module, "__name__", None) != ALIAS_TARGET:
        return module.AutoAttack, ALIAS_NAME
    try:
        module = importlib.import_module(ALIAS_TARGET)
    except ModuleNotFoundError as error:
        raise ImportError(
            "AutoAttack is not installed: pip install pyautoattack==0.2.0 (or the GitHub "
            "package: pip install git+https://github.com/fra31/auto-attack)"
        ) from error
    return module.AutoAttack, ALIAS_TARGET


def uses_keyword_api(attack_class: type) -> bool:
    """True for pyautoattack's API (``attacks=``); False for GitHub's (``attacks_to_run=``)."""
    parameters = inspect.signature(attack_class.__init__).parameters
    if "attacks" in parameters:
        return True
    if "attacks_to_run" in parameters:
        return False
    raise TypeError(
        f"{attack_class.__module__}.AutoAttack takes neither 'attacks' nor 'attacks_to_run'; "
        "unknown AutoAttack API"
    )


def _attack_chunk(
    attack_class: type,
    model: nn.Module,
    x_nchw: torch.Tensor,
    y: torch.Tensor,
    *,
    norm: str,
    eps: float,
    version: str,
    seed: int,
    batch_size: int,
    attacks: list[str] | None,
    device: str,
) -> torch.Tensor:
    """One AutoAttack run on a chunk, through whichever API ``attack_class`` has."""
    if uses_keyword_api(attack_class):
        adversary = attack_class(
            model, norm=norm, eps=eps, version=version, seed=seed, device=device, attacks=attacks
        )
        x_adv, _ = adversary.run_standard_evaluation(x_nchw, y, batch_size=batch_size)
        return x_adv
    parameters = inspect.signature(attack_class.__init__).parameters
    kwargs: dict[str, Any] = {"norm": norm, "eps": eps, "version": version, "device": device}
    if "seed" in parameters:
        kwargs["seed"] = seed
    if "verbose" in parameters:
        kwargs["verbose"] = False  # its Logger prints to stdout; we log per chunk instead
    if attacks is not None:
        kwargs["attacks_to_run"] = list(attacks)
    adversary = attack_class(model, **kwargs)
    if "seed" not in parameters:
        adversary.seed = seed
    result = adversary.run_standard_evaluation(x_nchw, y, bs=batch_size)
    return result[0] if isinstance(result, tuple | list) else result


@contextlib.contextmanager
def _frozen_eval(model: nn.Module, device: str) -> Iterator[nn.Module]:
    """Eval mode and no parameter gradients (attacks need input gradients only), then restore."""
    was_training = model.training
    flags = [parameter.requires_grad for parameter in model.parameters()]
    model.to(device).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    try:
        yield model
    finally:
        for parameter, flag in zip(model.parameters(), flags, strict=True):
            parameter.requires_grad_(flag)
        model.train(was_training)


def _shrink_into_ball(
    x64: np.ndarray, delta: np.ndarray, norm: str, radius: float, norms: np.ndarray
) -> np.ndarray:
    """``delta`` moved into the radius-ball: clipped (Linf) or scaled by radius/norm (L1, L2)."""
    if norm == "Linf":
        return np.clip(delta, -radius, radius)
    return delta * (radius / norms).reshape(-1, *([1] * (x64.ndim - 1)))


def project_to_ball(
    x: np.ndarray, x_adv: np.ndarray, norm: str, eps: float
) -> tuple[np.ndarray, dict[str, Any]]:
    """Bring every image into the eps-ball around x and into [0, 1] (module docstring).

    The projection is computed in float64; the float32 result can land a rounding step
    (~1e-8) outside the ball again, so images still outside are pulled to radius
    ``eps - 1e-7·10^k`` (k = 0, 1, ...) until every norm, measured in float64 on the float32
    arrays, is <= eps.

    Returns the float32 images and a summary: how many were projected, the largest excess.
    Raises RuntimeError when an excess exceeds ``ROUNDING_TOLERANCE * eps`` (not float error).
    """
    norms = perturbation_norms(x, x_adv, norm)
    excess = norms - eps
    worst = float(excess.max()) if len(excess) else 0.0
    if worst > ROUNDING_TOLERANCE * eps:
        raise RuntimeError(
            f"AutoAttack returned a perturbation of {norm} norm {eps + worst:.6f} > eps {eps} "
            "(more than float rounding); refusing to project it silently"
        )
    x64 = x.astype(np.float64)
    adv64 = x_adv.astype(np.float64)
    out_of_range = int(((adv64 < 0) | (adv64 > 1)).reshape(len(x), -1).any(axis=1).sum())
    projected = np.clip(adv64, 0.0, 1.0).astype(np.float32)
    over = excess > 0
    for attempt in range(8):
        final = perturbation_norms(x, projected, norm)
        outside = final > eps
        if not outside.any():
            break
        radius = max(eps - 1e-7 * 10**attempt, 0.5 * eps)
        delta = projected[outside].astype(np.float64) - x64[outside]
        delta = _shrink_into_ball(x64[outside], delta, norm, radius, final[outside])
        # Clipping x + delta into [0, 1] only shrinks each |delta_i| (x is in [0, 1]).
        projected[outside] = np.clip(x64[outside] + delta, 0.0, 1.0).astype(np.float32)
    else:
        raise RuntimeError(f"could not project the AutoAttack output into the {norm} eps-ball")
    summary = {
        "projected": int(over.sum()),
        "max_excess_before_projection": max(worst, 0.0),
        "out_of_range_before_clip": out_of_range,
    }
    return projected, summary


def run_autoattack(
    model: nn.Module,
    x_nhwc: np.ndarray,
    y: np.ndarray,
    *,
    norm: str = "L2",
    eps: float = 0.5,
    version: str = "standard",
    seed: int = 0,
    batch_size: int = 64,
    attacks: Sequence[str] | None = None,
    device: str = "cpu",
    chunk_size: int | None = None,
) -> np.ndarray:
    """AutoAttack ``model`` on ``x_nhwc`` with labels ``y``; adversarial images, float32 NHWC.

    Args:
        model: classifier taking NCHW [0, 1] input, returning logits (e.g. a RobustBench model).
        x_nhwc: float32 (N, H, W, 3) in [0, 1]. y: int (N,) true labels.
        norm: ``L2``, ``Linf`` or ``L1``. eps: radius of the threat model.
        version: ``standard`` (APGD-CE, APGD-T, FAB-T, Square 5000 queries), ``plus``, ``rand``,
            or ``custom`` with ``attacks`` (e.g. ``["apgd-ce"]``).
        seed: seeds torch and every attack (same seed, same images).
        batch_size: AutoAttack's batch size. device: ``cpu``, ``cuda``, ``auto``...
        chunk_size: images per AutoAttack call, for progress logging (default 16 batches).

    Returns:
        float32 (N, H, W, 3) in [0, 1] with ``||x_adv - x||_norm <= eps`` per image (projected if
        AutoAttack overshoots by float rounding, see module docstring); images AutoAttack could
        not attack (misclassified already, or robust) are the clean ones.
    """
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {VERSIONS}, got {version!r}")
    if not (eps > 0 and math.isfinite(eps)):
        raise ValueError(f"eps must be a positive number, got {eps!r}")
    if version == "custom":
        if not attacks:
            raise ValueError(f"version 'custom' needs a list of attacks from {ATTACKS}")
        unknown = [name for name in attacks if name not in ATTACKS]
        if unknown:
            raise ValueError(f"unknown attacks {unknown}; use names from {ATTACKS}")
        attacks = list(attacks)
    elif attacks is not None:
        raise ValueError(
            f"attacks={list(attacks)} is only used with version='custom'; version {version!r} "
            "has its own list (set attacks to null)"
        )
    check_images(x_nhwc, y, "run_autoattack input")
    batch_size = int(batch_size)
    chunk_size = int(chunk_size or 16 * batch_size)
    chunk_size = max(batch_size, chunk_size // batch_size * batch_size)
    device = resolve_device(device)
    attack_class, package = autoattack_class()

    torch.manual_seed(int(seed))
    x_all = to_nchw_tensor(x_nhwc)
    y_all = torch.from_numpy(np.asarray(y, dtype=np.int64))
    chunks = []
    started = time.perf_counter()
    logger.info(
        "AutoAttack (%s, %s, eps=%s, version=%s%s) on %d images, %s, batch %d, seed %d",
        package, norm, eps, version, f", attacks={attacks}" if attacks else "", len(x_all),
        device, batch_size, seed,
    )  # fmt: skip
    with _frozen_eval(model, device):
        for start in range(0, len(x_all), chunk_size):
            stop = min(start + chunk_size, len(x_all))
            x_adv = _attack_chunk(
                attack_class, model, x_all[start:stop], y_all[start:stop],
                norm=norm, eps=float(eps), version=version, seed=int(seed),
                batch_size=batch_size, attacks=attacks, device=device,
            )  # fmt: skip
            chunks.append(to_nhwc_array(x_adv))
            elapsed = time.perf_counter() - started
            eta = elapsed / stop * (len(x_all) - stop)
            logger.info(
                "AutoAttack: %d/%d images (%.2f images/s, ETA %s)",
                stop, len(x_all), stop / elapsed, format_duration(eta),
            )  # fmt: skip
    x_adv_nhwc = np.concatenate(chunks) if chunks else np.zeros_like(x_nhwc)
    if not np.isfinite(x_adv_nhwc).all():
        raise RuntimeError("AutoAttack returned NaN or infinite pixel values")
    x_adv_nhwc, summary = project_to_ball(x_nhwc, x_adv_nhwc, norm, float(eps))
    if summary["projected"] or summary["out_of_range_before_clip"]:
        logger.info(
            "AutoAttack output: %d image(s) projected back into the %s ball (largest excess "
            "%.3g, float rounding), %d image(s) clipped into [0, 1]",
            summary["projected"], norm, summary["max_excess_before_projection"],
            summary["out_of_range_before_clip"],
        )  # fmt: skip
    return x_adv_nhwc


def l2_perturbation_stats(x: np.ndarray, x_adv: np.ndarray) -> dict[str, float | int]:
    """Per-image ``||x_adv - x||_2`` summarised: mean, median, min, max; max Linf; counts.

    ``n_perturbed`` counts images with a nonzero perturbation (AutoAttack leaves images it
    could not attack, or did not need to, unchanged).
    """
    if x.shape != x_adv.shape:
        raise ValueError(f"x {x.shape} and x_adv {x_adv.shape} must have the same shape")
    l2 = perturbation_norms(x, x_adv, "L2")
    linf = perturbation_norms(x, x_adv, "Linf")
    perturbed = l2 > 0
    return {
        "l2_mean": float(l2.mean()) if len(l2) else 0.0,
        "l2_median": float(np.median(l2)) if len(l2) else 0.0,
        "l2_min": float(l2.min()) if len(l2) else 0.0,
        "l2_max": float(l2.max()) if len(l2) else 0.0,
        "l2_mean_perturbed": float(l2[perturbed].mean()) if perturbed.any() else 0.0,
        "linf_max": float(linf.max()) if len(linf) else 0.0,
        "n_perturbed": int(perturbed.sum()),
        "n": int(len(l2)),
    }


def accuracy(
    model: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 256, device: str = "cpu"
) -> float:
    """Top-1 accuracy of ``model`` on float32 NHWC images ``x`` with labels ``y``."""
    check_images(x, y, "accuracy input")
    if len(y) == 0:
        raise ValueError("accuracy of an empty image set is undefined")
    logits = predict_logits(model, x, batch_size=batch_size, device=device)
    return float((logits.argmax(axis=1) == np.asarray(y)).mean())
