"""Tests of the U0 architectures: shapes, softmax outputs, depths, widths, layer names."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from logifold_kedro.tf_lib.architectures import (
    build_model,
    build_resnet_v1,
    build_resnet_v2,
    build_vgg,
    resnet_blocks_per_stage,
)

SMALL_SPECS = [
    {"name": "r1", "family": "resnet", "version": 1, "depth": 8, "width": 4},
    {"name": "r2", "family": "resnet", "version": 2, "depth": 11, "width": 4},
    {"name": "v11", "family": "vgg", "config": "11", "width": 4},
    {"name": "v19", "family": "vgg", "config": "19", "width": 4},
]


def conv_layers(model: keras.Model) -> list[keras.layers.Conv2D]:
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]


@pytest.mark.parametrize("spec", SMALL_SPECS, ids=[spec["name"] for spec in SMALL_SPECS])
def test_models_output_probability_rows(spec):
    model = build_model(spec, seed=0)
    images = np.random.default_rng(0).uniform(size=(5, 32, 32, 3)).astype(np.float32)
    probs = keras.ops.convert_to_numpy(model(images, training=False))
    assert model.name == spec["name"]
    assert probs.shape == (5, 10)
    assert np.all(probs >= 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    # The layers specialists and committees rely on.
    features = model.get_layer("features")
    assert isinstance(features, keras.layers.Flatten) and len(features.output.shape) == 2
    assert [layer.name for layer in model.layers[-3:]] == ["features", "logits", "probabilities"]


def test_resnet_v1_depth20_width16_matches_the_keras_example_size():
    model = build_resnet_v1(20, width=16)
    assert 260_000 <= model.count_params() <= 280_000


@pytest.mark.parametrize(("depth", "blocks"), [(8, 1), (20, 3), (56, 9)])
def test_resnet_v1_depth_counts_weighted_layers(depth, blocks):
    assert resnet_blocks_per_stage(1, depth) == blocks
    model = build_resnet_v1(depth, width=2)
    # depth = stem conv + 2 convs per block + Dense; plus 2 projection shortcuts (stages 2, 3).
    assert len(conv_layers(model)) == depth - 1 + 2


@pytest.mark.parametrize(("depth", "blocks"), [(11, 1), (20, 2), (56, 6)])
def test_resnet_v2_depth_counts_weighted_layers(depth, blocks):
    assert resnet_blocks_per_stage(2, depth) == blocks
    model = build_resnet_v2(depth, width=2)
    # depth = stem conv + 3 convs per bottleneck + Dense; plus one projection per stage.
    assert len(conv_layers(model)) == depth - 1 + 3


def test_resnet_v2_bottleneck_widths_follow_the_example():
    model = build_resnet_v2(11, width=16)
    assert model.get_layer("features").output.shape[-1] == 256  # 16 -> 64 -> 128 -> 256


@pytest.mark.parametrize(
    ("builder", "depth", "rule"),
    [
        (build_resnet_v1, 21, "6n \\+ 2"),
        (build_resnet_v1, 2, "6n \\+ 2"),
        (build_resnet_v2, 20 + 1, "9n \\+ 2"),
        (build_resnet_v2, 14, "9n \\+ 2"),
    ],
)
def test_invalid_resnet_depths_raise_clear_errors(builder, depth, rule):
    with pytest.raises(ValueError, match=rule):
        builder(depth)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"family": "resnet", "version": 3, "depth": 20}, "version must be 1 or 2"),
        ({"family": "resnet", "depth": 20}, "lacks \\['version'\\]"),
        ({"family": "vgg", "config": "12"}, "VGG config must be one of"),
        ({"family": "vgg"}, "lacks 'config'"),
        ({"family": "densenet"}, "unknown model family"),
        ({"depth": 20}, "'family' key"),
        ({"family": "vgg", "config": "11", "width": 0}, "width must be a positive integer"),
    ],
)
def test_invalid_specs_raise_clear_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        build_model(spec)


@pytest.mark.parametrize(("config", "convs"), [("11", 8), ("13", 10), ("16", 13), ("19", 16)])
def test_vgg_configs_have_torchvision_conv_counts(config, convs):
    model = build_vgg(config, width=2)
    assert len(conv_layers(model)) == convs
    assert sum(isinstance(layer, keras.layers.MaxPooling2D) for layer in model.layers) == 5
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)
    assert all(layer.kernel_regularizer is None for layer in conv_layers(model))
    assert [layer.name for layer in model.layers if isinstance(layer, keras.layers.Dense)] == [
        "logits"
    ]


def test_vgg_channels_scale_with_width():
    assert [layer.filters for layer in conv_layers(build_vgg("11", width=8))] == [
        8, 16, 32, 32, 64, 64, 64, 64,
    ]  # fmt: skip


def test_resnet_uses_he_normal_and_l2_on_convolutions():
    model = build_resnet_v1(8, width=4, l2=1e-4)
    for layer in conv_layers(model):
        assert isinstance(layer.kernel_initializer, keras.initializers.HeNormal)
        assert layer.kernel_regularizer.l2 == pytest.approx(1e-4)


@pytest.mark.parametrize("seed", [None, 3], ids=["unseeded", "seeded"])
@pytest.mark.parametrize(
    ("spec", "initializer"),
    [(spec, "HeNormal") for spec in SMALL_SPECS[:2]]
    + [(spec, "GlorotUniform") for spec in SMALL_SPECS[2:]],
    ids=[spec["name"] for spec in SMALL_SPECS],
)
def test_conv_initializers_are_he_normal_for_resnets_and_glorot_uniform_for_vggs(
    spec, initializer, seed
):
    convs = conv_layers(build_model(spec, seed=seed))
    configs = [layer.get_config()["kernel_initializer"] for layer in convs]
    assert convs and all(config["class_name"] == initializer for config in configs)
    seeds = [config["config"]["seed"] for config in configs]
    if seed is None:
        assert seeds == [None] * len(convs)  # Keras' own seeding
    else:
        assert None not in seeds and len(set(seeds)) == len(seeds)  # one seed per layer


@pytest.mark.parametrize(
    "spec",
    [
        {"family": "resnet", "version": 1, "depth": 8},
        {"family": "resnet", "version": 2, "depth": 11},
        {"family": "vgg", "config": "11"},
    ],
)
def test_doubling_width_about_quadruples_parameters(spec):
    narrow = build_model({**spec, "width": 8}).count_params()
    wide = build_model({**spec, "width": 16}).count_params()
    assert 3.0 * narrow < wide < 4.2 * narrow


def test_seed_makes_initial_weights_reproducible():
    spec = SMALL_SPECS[0]
    first = build_model(spec, seed=5).get_weights()
    again = build_model(spec, seed=5).get_weights()
    other = build_model(spec, seed=6).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def _python_random_drawn_meanwhile(monkeypatch):
    """Python's `random` as another thread that keeps drawing (a Dask worker's event loop)
    leaves it: every draw gives a new number, whatever the seed."""
    import itertools
    import random

    counter = itertools.count(1)
    monkeypatch.setattr(random, "randint", lambda low, high: low + next(counter) % (high - low))


def test_seeded_weights_do_not_depend_on_python_random_used_by_other_threads(monkeypatch):
    spec = SMALL_SPECS[0]
    quiet = build_model(spec, seed=5).get_weights()
    _python_random_drawn_meanwhile(monkeypatch)
    busy = build_model(spec, seed=5).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(quiet, busy, strict=True))


def test_num_classes_and_input_shape_are_configurable():
    model = build_model(
        {"family": "resnet", "version": 1, "depth": 8, "width": 2, "num_classes": 3,
         "input_shape": [16, 16, 1]}
    )  # fmt: skip
    assert model.input_shape == (None, 16, 16, 1)
    assert model.output_shape == (None, 3)


def test_keras_file_round_trip_keeps_predictions(tmp_path):
    model = build_model(SMALL_SPECS[1], seed=0)
    images = np.random.default_rng(1).uniform(size=(4, 32, 32, 3)).astype(np.float32)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.name == model.name
    np.testing.assert_allclose(
        loaded.predict(images, verbose=0), model.predict(images, verbose=0), rtol=1e-6
    )
