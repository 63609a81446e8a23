"""APGD-CE (ART ``AutoProjectedGradientDescent``) against Keras softmax models, fast.

The attack is ART's algorithm, unchanged: L2 norm, untargeted, cross-entropy loss, labels the
attacked model's own predictions (``y=None``), random restarts, ART's step-size schedule. It
runs on a `tf_lib.fused_classifier.FusedCommitteeClassifier`, which answers ART's calls with the
same numbers as ART's ``TensorFlowV2Classifier`` while evaluating each distinct (image, label) at
most once. This module holds the drivers: the setting's check (`parameter_checks.ApgdSetting`),
the attack built on an estimator, the batches attacked one at a time with progress, and the
projection of the result into the L2 ball.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
from pydantic import ValidationError

from logifold_kedro.data.perturbations import perturbation_norms
from logifold_kedro.parameter_checks import ApgdSetting, allowed_values
from logifold_kedro.progress import ProgressReporter, format_duration, use_progress_bar
from logifold_kedro.seeding import seed_host_generators
from logifold_kedro.tf_lib.art import AutoProjectedGradientDescent, TensorFlowV2Classifier
from logifold_kedro.tf_lib.fused_classifier import AttackLoss, FusedCommitteeClassifier

logger = logging.getLogger(__name__)

# Contract on the returned images: per-image L2 perturbation <= eps + this.
L2_TOLERANCE = 1e-4
# Rows above eps by more than this are projected back (float32 rounding in ART leaves ~1e-7).
_PROJECTION_SLACK = 1e-6
# The keys ART's attack gets from a setting (the norm is always 2).
_ATTACK_KEYS = ("eps", "eps_step", "max_iter", "nb_random_init", "batch_size")


def _setting_problem(setting: Mapping[str, Any], problem: dict[str, Any]) -> str:
    """One pydantic problem of an APGD setting as ``key = value: message (allowed: rule)``."""
    key = ".".join(map(str, problem["loc"]))
    field = ApgdSetting.model_fields.get(key)
    rule = "" if field is None else allowed_values(field.annotation, field.metadata)
    value = setting.get(key, "(missing)")
    return f"{key} = {value!r}: {problem['msg']}" + (f" (allowed: {rule})" if rule else "")


def check_apgd_setting(setting: Mapping[str, Any]) -> dict[str, Any]:
    """Validate an APGD setting against `parameter_checks.ApgdSetting`; the values ART gets.

    Keys: ``eps`` > 0, ``eps_step`` > 0 (finite numbers), ``max_iter``, ``nb_random_init``,
    ``batch_size`` (positive integers), optional ``norm`` which must be 2 (L2); no others.
    Returns ``eps``, ``eps_step`` as floats and the three counts as ints. The error lists every
    problem with the key, its value and what is allowed.
    """
    if not isinstance(setting, Mapping):
        raise ValueError(f"the APGD setting must be a mapping, got {type(setting).__name__}.")
    try:
        checked = ApgdSetting.model_validate(dict(setting))
    except ValidationError as error:
        problems = "; ".join(_setting_problem(setting, p) for p in error.errors())
        raise ValueError(
            f"APGD setting {dict(setting)} is not valid: {problems}. Expected the keys "
            f"{list(_ATTACK_KEYS)} and optionally norm: 2 (the L2 attack)."
        ) from None
    return checked.model_dump(include=set(_ATTACK_KEYS))


def build_apgd(
    estimator: TensorFlowV2Classifier, setting: Mapping[str, Any]
) -> AutoProjectedGradientDescent:
    """ART's APGD-CE (L2, untargeted, cross-entropy, tqdm off) on ``estimator``.

    For ``loss_type="cross_entropy"`` ART wraps any ``TensorFlowV2Classifier`` into a fresh
    base-class instance carrying its cross-entropy loss object. A plain estimator is left to that
    (ART as is); a :class:`FusedCommitteeClassifier`, which computes that same loss itself, is
    put back in place of the wrapper (and told ``max_iter`` if it was not).
    """
    checked = check_apgd_setting(setting)
    attack = AutoProjectedGradientDescent(
        estimator=estimator,
        norm=2,
        eps=checked["eps"],
        eps_step=checked["eps_step"],
        max_iter=checked["max_iter"],
        targeted=False,
        nb_random_init=checked["nb_random_init"],
        batch_size=checked["batch_size"],
        loss_type="cross_entropy",
        verbose=False,
    )
    if isinstance(estimator, FusedCommitteeClassifier):
        attack._estimator = estimator
        if estimator.max_iter is None:
            estimator.max_iter = checked["max_iter"]
    return attack


def generate_in_batches(
    attack: AutoProjectedGradientDescent, x: np.ndarray, seed: int, label: str = "APGD"
) -> np.ndarray:
    """Run ``attack.generate`` (``y=None``) one attack batch at a time, with progress and ETA:
    a log line per batch, or a bar over the images where `use_progress_bar()` says so.

    Seeds Python and numpy first (`seeding.seed_host_generators`; not TensorFlow, whose reseeding
    clears the compiled passes): ART draws its random starts from numpy's global generator, so
    the same seed gives the same arrays. Each
    batch is attacked completely (all restarts) before the next; per image this is ART's
    algorithm, and the caches of a :class:`FusedCommitteeClassifier` stay one batch small.
    """
    seed_host_generators(seed)
    batch_size = attack.batch_size
    n_images = x.shape[0]
    n_batches = -(-n_images // batch_size)
    x_adv = np.empty_like(x, dtype=np.float32)
    estimator = attack.estimator
    bar = ProgressReporter(n_images, label, unit="image", bar=True) if use_progress_bar() else None
    started = time.perf_counter()
    try:
        for batch_index, start in enumerate(range(0, n_images, batch_size)):
            stop = min(start + batch_size, n_images)
            if isinstance(estimator, FusedCommitteeClassifier):
                estimator.clear_cache()
            x_adv[start:stop] = attack.generate(x=x[start:stop])
            if bar is not None:
                bar.update(stop - start)
            else:
                _log_batch(label, batch_index + 1, n_batches, stop, n_images, started)
    finally:
        if bar is not None:
            bar.close()
    return x_adv


def _log_batch(
    label: str, done: int, n_batches: int, stop: int, n_images: int, started: float
) -> None:
    elapsed = time.perf_counter() - started
    logger.info(
        "%s: batch %d/%d, %d/%d images, %.2f images/s (%s, ETA %s)",
        label,
        done,
        n_batches,
        stop,
        n_images,
        stop / elapsed if elapsed > 0 else float("nan"),
        format_duration(elapsed),
        format_duration(elapsed / done * (n_batches - done)),
    )


def project_into_l2_ball(x: np.ndarray, x_adv: np.ndarray, eps: float) -> np.ndarray:
    """``x_adv`` with every image in [0, 1] and in the L2 ball of radius ``eps`` around ``x``.

    Rows with ``||delta||_2 > eps + 1e-6`` (``delta = x_adv - x``) are rescaled to
    ``x + delta eps (1 - 1e-6) / ||delta||_2``, then clipped to [0, 1] (clipping only moves
    pixels towards ``x`` in [0, 1], so the norm stays inside); each correction is logged.
    """
    x_adv = np.clip(x_adv, 0.0, 1.0).astype(np.float32)
    norms = perturbation_norms(x, x_adv)
    over = np.flatnonzero(norms > eps + _PROJECTION_SLACK)
    if over.size:
        scale = (eps * (1.0 - _PROJECTION_SLACK) / norms[over]).reshape((-1,) + (1,) * (x.ndim - 1))
        delta = x_adv[over].astype(np.float64) - x[over].astype(np.float64)
        x_adv[over] = np.clip(x[over] + delta * scale, 0.0, 1.0).astype(np.float32)
        logger.warning(
            "APGD returned %d of %d images outside the L2 ball (eps %.4g, largest norm %.6g, "
            "excess %.3g); projected them back.",
            over.size,
            norms.size,
            eps,
            norms[over].max(),
            norms[over].max() - eps,
        )
    worst = float(perturbation_norms(x, x_adv).max(initial=0.0))
    if worst > eps + L2_TOLERANCE:
        raise RuntimeError(f"L2 projection failed: a perturbation of {worst:.6g} > eps {eps}.")
    return x_adv


def _check_images(model: keras.Model, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    expected = tuple(model.input_shape[1:])
    if x.ndim != 1 + len(expected) or tuple(x.shape[1:]) != expected:
        raise ValueError(
            f"x must be images of shape (N, {', '.join(map(str, expected))}) for model "
            f"{model.name!r}, got {x.shape}."
        )
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"x must be float images in [0, 1] (pixels / 255), got dtype {x.dtype}.")
    if x.size and (x.min() < 0.0 or x.max() > 1.0 or not np.all(np.isfinite(x))):
        raise ValueError(
            f"x must lie in [0, 1] (pixels / 255), got values in [{x.min():.4g}, {x.max():.4g}]."
        )
    return np.ascontiguousarray(x, dtype=np.float32)


def apgd_attack(
    model: keras.Model,
    x: np.ndarray,
    setting: Mapping[str, Any],
    seed: int,
    num_classes: int = 10,
    loss: AttackLoss | None = None,
) -> np.ndarray:
    """APGD-CE images against ``model``: float32 NHWC in [0, 1], ``||x_adv - x||_2 <= eps``.

    ART's ``AutoProjectedGradientDescent`` (L2, untargeted, cross-entropy, ``y=None`` so the
    labels are the model's own predictions) on a :class:`FusedCommitteeClassifier`; ``setting``
    holds ``eps, eps_step, max_iter, nb_random_init, batch_size`` (and optionally ``norm: 2``).
    The same seed gives the same arrays. ``loss``: another per-image loss for APGD to maximise
    instead of the cross-entropy (see :class:`FusedCommitteeClassifier`).
    """
    checked = check_apgd_setting(setting)
    x = _check_images(model, x)
    if x.shape[0] == 0:
        return x.copy()
    classifier = FusedCommitteeClassifier(
        model,
        nb_classes=num_classes,
        batch_size=checked["batch_size"],
        max_iter=checked["max_iter"],
        loss=loss,
    )
    attack = build_apgd(classifier, checked)
    started = time.perf_counter()
    x_adv = generate_in_batches(attack, x, seed=seed, label=f"APGD on {model.name}")
    elapsed = time.perf_counter() - started
    x_adv = project_into_l2_ball(x, x_adv, checked["eps"])
    logger.info(
        "APGD on %s: %d images in %.1f s (%.2f images/s), %.2f model passes per image "
        "(%.2f with gradient), eps %.3g, max_iter %d, restarts %d",
        model.name,
        x.shape[0],
        elapsed,
        x.shape[0] / elapsed,
        classifier.forward_rows / x.shape[0],
        classifier.backward_rows / x.shape[0],
        checked["eps"],
        checked["max_iter"],
        checked["nb_random_init"],
    )
    return x_adv
