"""AutoAttack (Croce & Hein) on float32 NHWC images, with either published package.

Two packages carry the same attacks with different APIs (docs/stack.md, trap 1);
``run_autoattack`` uses either (`torch_lib.autoattack_backend`). Both seed every attack run
(``torch.random.manual_seed(seed)`` per batch), so one seed gives one result.

The images are attacked in chunks of ``chunk_size`` (a multiple of ``batch_size``); within a
chunk AutoAttack runs its attacks in sequence, each on the points still classified correctly,
exactly as in one call.

Resuming (``state_dir``). A run cut off (a cluster's wall-time limit, a crash) continues where
it stopped when called again with the same inputs and settings, and returns the same images as
an uninterrupted run. Two levels of state are kept in ``state_dir``:

- every finished chunk's adversarial images and robust flags (``chunk_00003.npz``);
- inside the chunk being attacked, the output of every attack batch (one ``perturb`` call of
  APGD-CE, APGD-T, FAB-T or Square on up to ``batch_size`` still-robust images), keyed by the
  attack, its call number and a digest of the images it was given
  (`torch_lib.autoattack_batches`).

AutoAttack's own loop stays in charge: on a restart the chunk is run again and the batches
already attacked are answered from the saved outputs (a forward pass each) instead of being
attacked anew. Each attack seeds torch itself at the start of every batch (``perturb`` calls
``torch.random.manual_seed(seed)``), so a batch's output depends on its images and the seed
only, never on how many batches ran before it in this process. Driving the four attacks one at
a time from here was not chosen: it would copy AutoAttack's loop (per package, per version)
and re-run its clean-accuracy pass on a different batch split, which can change a prediction
by float rounding and hence the images. A ``fingerprint.json`` (settings, seed, package, chunk
and batch size, digests of the images, labels and model weights) guards the state: state made
by anything else is discarded with an INFO line. The folder is removed once the run completes.

Progress goes through ``ProgressReporter``: chunks done of all (with robust accuracy so far and
an ETA), and within a chunk each attack's batches (which attack runs, on how many still-robust
images); a bar on a terminal, INFO lines otherwise.

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
import logging
import math
import os
import shutil
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from logifold_kedro.data.perturbations import perturbation_norms, perturbation_summary
from logifold_kedro.data.validation import validate_image_set
from logifold_kedro.progress import ProgressReporter
from logifold_kedro.torch_lib.autoattack_backend import (
    attack_chunk,
    autoattack_class,
    package_version,
)
from logifold_kedro.torch_lib.autoattack_batches import (
    AttackBatches,
    correct_mask,
    load_chunk,
    save_chunk,
)
from logifold_kedro.torch_lib.images import predict_logits, to_nchw_tensor, to_nhwc_array
from logifold_kedro.torch_lib.resume import digest_arrays, open_state_folder, weights_digest
from logifold_kedro.torch_lib.setup import resolve_device

logger = logging.getLogger(__name__)

NORMS = ("L2", "Linf", "L1")
VERSIONS = ("standard", "plus", "rand", "custom")
ATTACKS = ("apgd-ce", "apgd-dlr", "apgd-t", "fab", "fab-t", "square")
# Excess over eps accepted as float rounding (relative to eps) and projected back.
ROUNDING_TOLERANCE = 1e-3
# Bumped when the layout of the resume state changes, so older state is not misread.
STATE_FORMAT = 1

#: The per-image perturbation statistics of a run (`data.perturbations.perturbation_summary`;
#: the torch_attacks node imports them under this name).
l2_perturbation_stats = perturbation_summary


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
    state_dir: str | os.PathLike | None = None,
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
        chunk_size: images per AutoAttack call (default 16 batches). It sets which images
            share a batch, so it is part of the result (and of the resume fingerprint).
        state_dir: folder for the state that lets a killed run resume (module docstring);
            removed when the run completes. None: nothing is kept.

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
    validate_image_set({"x": x_nhwc, "y": y}, "run_autoattack input")
    batch_size = int(batch_size)
    chunk_size = int(chunk_size or 16 * batch_size)
    chunk_size = max(batch_size, chunk_size // batch_size * batch_size)
    device = resolve_device(device)
    attack_class, package = autoattack_class()

    torch.manual_seed(int(seed))
    x_all = to_nchw_tensor(x_nhwc)
    y_all = torch.from_numpy(np.asarray(y, dtype=np.int64))
    starts = list(range(0, len(x_all), chunk_size))
    fingerprint = {
        "format": STATE_FORMAT,
        "package": f"{package} {package_version(package)}",
        "norm": norm,
        "eps": float(eps),
        "version": version,
        "attacks": attacks,
        "seed": int(seed),
        "batch_size": batch_size,
        "chunk_size": chunk_size,
        "device": device,
        "images": digest_arrays(x_all, y_all),
        "weights": weights_digest(model),
    }
    folder = open_state_folder(state_dir, fingerprint, "AutoAttack")
    chunk_paths = [
        None if folder is None else folder / f"chunk_{index:05d}.npz"
        for index in range(len(starts))
    ]
    saved = [
        None if path is None else load_chunk(path, min(chunk_size, len(x_all) - start))
        for path, start in zip(chunk_paths, starts, strict=True)
    ]
    resumed_chunks = sum(chunk is not None for chunk in saved)
    resumed_batches = 0 if folder is None else len(list(folder.glob("chunk_*.batches/*.pt")))
    logger.info(
        "AutoAttack (%s, %s, eps=%s, version=%s%s) on %d images in %d chunk(s), %s, batch %d, "
        "seed %d%s",
        package, norm, eps, version, f", attacks={attacks}" if attacks else "", len(x_all),
        len(starts), device, batch_size, seed,
        f"; resuming from {folder}: {resumed_chunks} chunk(s) and {resumed_batches} attack "
        "batch(es) of the next one done" if resumed_chunks or resumed_batches else "",
    )  # fmt: skip
    chunks: list[np.ndarray] = []
    robust_count, images_done = 0, 0
    with (
        _frozen_eval(model, device),
        ProgressReporter(
            len(starts), "AutoAttack", unit="chunk", logger=logger, log_every_s=0.0,
            initial=resumed_chunks,
        ) as progress,
    ):  # fmt: skip
        for index, start in enumerate(starts):
            stop = min(start + chunk_size, len(x_all))
            if saved[index] is not None:
                x_adv_chunk, robust = saved[index]
            else:
                x_chunk, y_chunk = x_all[start:stop], y_all[start:stop]
                batches = AttackBatches(
                    model,
                    None if folder is None else folder / f"chunk_{index:05d}.batches",
                    f"chunk {index + 1}/{len(starts)}",
                    robust=int(correct_mask(model, x_chunk, y_chunk, batch_size).sum()),
                    total=stop - start,
                    batch_size=batch_size,
                )
                try:
                    x_adv = attack_chunk(
                        attack_class, model, x_chunk, y_chunk,
                        norm=norm, eps=float(eps), version=version, seed=int(seed),
                        batch_size=batch_size, attacks=attacks, device=device, batches=batches,
                    )  # fmt: skip
                finally:
                    batches.close()
                if batches.replayed:
                    logger.info(
                        "AutoAttack chunk %d/%d: %d attack batch(es) taken from the saved "
                        "state, %d attacked",
                        index + 1, len(starts), batches.replayed, batches.attacked,
                    )  # fmt: skip
                x_adv_chunk = to_nhwc_array(x_adv)
                robust = correct_mask(model, x_adv.detach(), y_chunk, batch_size)
                if folder is not None:
                    save_chunk(chunk_paths[index], x_adv_chunk, robust)
                    shutil.rmtree(folder / f"chunk_{index:05d}.batches", ignore_errors=True)
            chunks.append(x_adv_chunk)
            robust_count += int(robust.sum())
            images_done = stop
            if saved[index] is None:
                progress.update(
                    1,
                    images=f"{images_done}/{len(x_all)}",
                    robust_accuracy=f"{robust_count / images_done:.1%}",
                )
    x_adv_nhwc = np.concatenate(chunks) if chunks else np.zeros_like(x_nhwc)
    if not np.isfinite(x_adv_nhwc).all():
        raise RuntimeError("AutoAttack returned NaN or infinite pixel values")
    x_adv_nhwc, summary = project_to_ball(x_nhwc, x_adv_nhwc, norm, float(eps))
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
    if summary["projected"] or summary["out_of_range_before_clip"]:
        logger.info(
            "AutoAttack output: %d image(s) projected back into the %s ball (largest excess "
            "%.3g, float rounding), %d image(s) clipped into [0, 1]",
            summary["projected"], norm, summary["max_excess_before_projection"],
            summary["out_of_range_before_clip"],
        )  # fmt: skip
    return x_adv_nhwc


def accuracy(
    model: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 256, device: str = "cpu"
) -> float:
    """Top-1 accuracy of ``model`` on float32 NHWC images ``x`` with labels ``y``."""
    validate_image_set({"x": x, "y": y}, "accuracy input")
    logits = predict_logits(model, x, batch_size=batch_size, device=device)
    return float((logits.argmax(axis=1) == np.asarray(y)).mean())
