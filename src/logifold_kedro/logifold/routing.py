"""The Immunization Mechanism (IMM): route each sample to the first or the second generation.

With U1's committee entropy ``H1`` and threshold t, the core ``{H1 <= t}`` is answered by U1's
mean softmax and every other sample by U2''s mean softmax:

    ``IMM_i = U1_i if H1_i <= t else U2'_i``.

Total entropy (experiment 3) compares what each system is uncertain about in sum:

    ``u1_total = sum_i H1_i``,
    ``imm_total = sum_{i: H1_i <= t} H1_i + sum_{i: H1_i > t} H2_i``,

with ``H2`` U2''s committee entropy on the same samples.

:func:`route_committees` does the whole step from the members' probabilities:
``pbar1``, ``pbar2`` (:func:`~.entropy.mean_probabilities`), ``H1``
(:func:`~.entropy.committee_entropy`), then :func:`imm_route`.
"""

from __future__ import annotations

import numpy as np

from .core import check_entropy, check_threshold
from .entropy import MemberProbabilities, committee_entropy, mean_probabilities


def imm_route(
    u1_probs_mean: np.ndarray,
    u2_probs_mean: np.ndarray,
    u1_entropy: np.ndarray,
    t: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Route samples by U1's entropy: U1's output on its core, U2''s output elsewhere.

    ``routed_i = u1_i if H1_i <= t else u2_i`` (a sample with ``H1_i == t`` is in the core).

    Args:
        u1_probs_mean: U1's output per sample, first axis N: mean probabilities (N, C) or
            predictions (N,).
        u2_probs_mean: U2''s output of the same shape.
        u1_entropy: (N,) U1 committee entropies.
        t: threshold; the core is ``u1_entropy <= t``.

    Returns:
        ``(routed, core)``: ``routed`` has the inputs' shape (take ``argmax(axis=1)`` of routed
        probabilities for IMM predictions); ``core`` is the (N,) boolean mask of U1's core.
    """
    u1_output = np.asarray(u1_probs_mean)
    u2_output = np.asarray(u2_probs_mean)
    entropy = check_entropy(u1_entropy, "u1_entropy")
    threshold = check_threshold(t)
    if u1_output.shape != u2_output.shape:
        raise ValueError(
            f"U1 and U2' outputs must have the same shape, got {u1_output.shape} and "
            f"{u2_output.shape}."
        )
    if u1_output.ndim not in (1, 2) or u1_output.shape[0] != entropy.shape[0]:
        raise ValueError(
            "outputs must have shape (N, C) or (N,) with N = len(u1_entropy) = "
            f"{entropy.shape[0]}, got {u1_output.shape}."
        )
    for name, output in (("u1_probs_mean", u1_output), ("u2_probs_mean", u2_output)):
        if np.issubdtype(output.dtype, np.floating) and not np.all(np.isfinite(output)):
            raise ValueError(f"{name} contains NaN or infinite values.")
    core = entropy <= threshold
    # Broadcast the (N,) mask over the class axis when routing probabilities.
    selector = core.reshape((-1,) + (1,) * (u1_output.ndim - 1))
    routed = np.where(selector, u1_output, u2_output)
    return routed, core


def route_committees(
    u1_member_probs: MemberProbabilities,
    u2_member_probs: MemberProbabilities,
    t: float,
    eps: float = 1e-12,
) -> tuple[np.ndarray, np.ndarray]:
    """The IMM from its two committees' member probabilities.

    ``IMM_i = pbar1_i if H1_i <= t else pbar2_i``, with ``pbar1``, ``pbar2`` the mean
    probabilities of U1 and U2' and ``H1`` U1's committee entropy (log base C, smoothing
    ``eps``): :func:`imm_route` on the outputs of :func:`~.entropy.mean_probabilities` and
    :func:`~.entropy.committee_entropy`.

    Args:
        u1_member_probs: U1's members, (K1, N, C) array or sequence of K1 arrays (N, C).
        u2_member_probs: U2''s members on the same N samples, (K2, N, C) or K2 arrays (N, C);
            K2 may differ from K1.
        t: threshold; the core is ``H1 <= t``.
        eps: smoothing inside the logarithm of the committee entropy.

    Returns:
        ``(imm_probs, core)``: the (N, C) routed probabilities (``imm_probs.argmax(axis=1)``
        are the IMM's predictions) and the (N,) boolean mask of U1's core.
    """
    u1_mean = mean_probabilities(u1_member_probs)
    u2_mean = mean_probabilities(u2_member_probs)
    if u1_mean.shape != u2_mean.shape:
        raise ValueError(
            "U1's and U2''s members must be on the same samples and classes: their (N, C) are "
            f"{u1_mean.shape} and {u2_mean.shape}."
        )
    return imm_route(u1_mean, u2_mean, committee_entropy(u1_member_probs, eps=eps), t)


def soft_route(
    u1_probs_mean: np.ndarray,
    u2_probs_mean: np.ndarray,
    u1_entropy: np.ndarray,
    t: float,
    temperature: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The soft IMM (the differentiable stand-in that adaptive attacks target), in numpy.

    ``g_i = sigmoid((t - H1_i) / tau)``, ``soft_i = g_i * U1_i + (1 - g_i) * U2'_i``: as
    ``tau -> 0`` (or for ``|t - H1_i| >> tau``) it is :func:`imm_route`'s hard routing.

    Returns:
        ``(soft, gate)``: (N, C) probabilities and the (N,) gate values in [0, 1].
    """
    u1_output = np.asarray(u1_probs_mean, dtype=np.float64)
    u2_output = np.asarray(u2_probs_mean, dtype=np.float64)
    entropy = check_entropy(u1_entropy, "u1_entropy")
    threshold = check_threshold(t)
    if not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature (tau) must be a positive number, got {temperature!r}.")
    if u1_output.shape != u2_output.shape or u1_output.ndim != 2:
        raise ValueError(
            f"U1 and U2' outputs must both have shape (N, C), got {u1_output.shape} and "
            f"{u2_output.shape}."
        )
    if u1_output.shape[0] != entropy.shape[0]:
        raise ValueError(
            f"outputs have {u1_output.shape[0]} rows but u1_entropy has {entropy.shape[0]}."
        )
    # sigmoid(z) = (1 + tanh(z / 2)) / 2: no overflow for large |z|.
    gate = 0.5 * (1.0 + np.tanh((threshold - entropy) / (2.0 * float(temperature))))
    return gate[:, None] * u1_output + (1.0 - gate[:, None]) * u2_output, gate


def total_entropy(u1_entropy: np.ndarray, u2_entropy: np.ndarray, t: float) -> dict[str, float]:
    """Total entropy of U1 alone and of the IMM (U1 on its core, U2' elsewhere).

    Returns:
        dict with ``u1_total = sum_i H1_i``, ``imm_total = imm_core_part + imm_out_of_core_part``
        where ``imm_core_part = sum_{H1_i <= t} H1_i`` and
        ``imm_out_of_core_part = sum_{H1_i > t} H2_i``, plus ``threshold``, ``core_size``, ``n``.
    """
    h1 = check_entropy(u1_entropy, "u1_entropy")
    h2 = check_entropy(u2_entropy, "u2_entropy")
    if h1.shape != h2.shape:
        raise ValueError(
            "u1_entropy and u2_entropy must be for the same samples, got "
            f"{h1.shape} and {h2.shape}."
        )
    threshold = check_threshold(t)
    core = h1 <= threshold
    core_part = float(h1[core].sum())
    out_part = float(h2[~core].sum())
    return {
        "threshold": threshold,
        "u1_total": float(h1.sum()),
        "imm_total": core_part + out_part,
        "imm_core_part": core_part,
        "imm_out_of_core_part": out_part,
        "core_size": int(core.sum()),
        "n": int(h1.shape[0]),
    }
