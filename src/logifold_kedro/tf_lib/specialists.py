"""Specialist models (docs/method.md, "Generations").

A specialist keeps a trained base network up to its penultimate layer (``features``: the
Flatten after global pooling), adds a new ``Dense(num_classes)`` + ``Softmax`` head and is then
fine-tuned as a whole (with `training.train_classifier` and the specialist recipe). The base
model is cloned first, so fine-tuning never changes it.
"""

from __future__ import annotations

import logging

import keras
import numpy as np

from logifold_kedro.seeding import seed_host_generators

logger = logging.getLogger(__name__)

FEATURES_LAYER = "features"


def make_specialist(
    base_model: keras.Model,
    num_classes: int = 10,
    name: str | None = None,
    seed: int | None = None,
) -> keras.Model:
    """A new, fully trainable model: a copy of `base_model` up to ``features`` + a new head.

    The copy has the base's current weights (including batch-norm statistics) in new variables.
    The head is ``Dense(num_classes, name="logits")`` then ``Softmax(name="probabilities")``,
    the same layer names as the base models. With `seed`, the head's initial weights depend
    only on it (Python and NumPy are reseeded first; see `logifold_kedro.seeding`).
    """
    try:
        base_model.get_layer(FEATURES_LAYER)
    except ValueError as error:
        raise ValueError(
            f"model {base_model.name!r} has no layer named {FEATURES_LAYER!r} to cut at; "
            "build it with logifold_kedro.tf_lib.architectures"
        ) from error
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if seed is not None:
        seed_host_generators(int(seed))
    copy = keras.models.clone_model(base_model)
    copy.set_weights(base_model.get_weights())
    features = copy.get_layer(FEATURES_LAYER).output
    # The new head's initializer is seeded itself: Keras' default seed comes from Python's
    # process-wide `random`, which other threads (a Dask worker's event loop) draw from too.
    head_initializer = (
        "glorot_uniform" if seed is None else keras.initializers.GlorotUniform(seed=int(seed))
    )
    logits = keras.layers.Dense(num_classes, kernel_initializer=head_initializer, name="logits")(
        features
    )
    probabilities = keras.layers.Softmax(name="probabilities")(logits)
    specialist = keras.Model(
        copy.inputs, probabilities, name=name or f"{base_model.name}_specialist"
    )
    for layer in specialist.layers:
        layer.trainable = True
    logger.info(
        "specialist %s from %s: %d parameters, new %d-class head on %s (%d features)",
        specialist.name,
        base_model.name,
        specialist.count_params(),
        num_classes,
        FEATURES_LAYER,
        int(np.prod(features.shape[1:])),
    )
    return specialist
