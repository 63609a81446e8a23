"""Keras classifiers of the base ensemble U0.

Every model maps float32 NHWC images in [0, 1] to class probabilities and has three named
layers the rest of the project relies on:

- ``features``: the penultimate output (Flatten after pooling), where specialists cut;
- ``logits``: the final Dense layer (no activation);
- ``probabilities``: the Softmax of the logits, the model's output.

ResNets follow the Keras CIFAR-10 ResNet example (He et al. 2016): 3x3 convolutions, he_normal
initialisation, L2 weight decay on the convolutions, batch normalisation.

- v1 (basic blocks): depth = 6n + 2; three stages of n blocks with ``width``, 2 ``width`` and
  4 ``width`` filters (the example: width 16, depth 20 -> n = 3, 0.27M parameters).
- v2 (pre-activation bottlenecks): depth = 9n + 2; bottleneck inner widths ``width``, 4 ``width``,
  8 ``width`` with outputs 4x, 2x, 2x those (the example: 16 -> 64, 64 -> 128, 128 -> 256).

VGG "raw" uses the torchvision layer configurations (Conv3x3 + BN + ReLU, MaxPool 2x2), then
Flatten and Dense(num_classes): no dropout, no 4096-wide layers, no weight decay, and Keras'
default glorot_uniform initialisation, as the reference's VGGs. Channel counts scale with
``width / 64`` (64 = torchvision's widths).
"""

from __future__ import annotations

import random
from contextvars import ContextVar
from typing import Any

import keras
from keras import layers

from logifold_kedro.seeding import seed_host_generators

# torchvision's VGG layer configurations: numbers are conv output channels, "M" a 2x2 max-pool.
VGG_CONFIGS: dict[str, list[int | str]] = {
    "11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
           512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}  # fmt: skip

RESNET_DEPTH_RULES = {1: (6, "6n + 2"), 2: (9, "9n + 2")}


def _check_positive(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _images_input(width: int, num_classes: int, input_shape: tuple[int, int, int]) -> Any:
    """The network's ``images`` input, once its width and number of classes are checked."""
    _check_positive("width", width)
    _check_positive("num_classes", num_classes)
    return keras.Input(shape=input_shape, name="images")


def resnet_blocks_per_stage(version: int, depth: int) -> int:
    """Blocks per stage n of a ResNet: depth = 6n + 2 (v1) or 9n + 2 (v2)."""
    if version not in RESNET_DEPTH_RULES:
        raise ValueError(f"ResNet version must be 1 or 2, got {version!r}")
    layers_per_block, rule = RESNET_DEPTH_RULES[version]
    if not isinstance(depth, int) or depth < layers_per_block + 2 or (depth - 2) % layers_per_block:
        valid = ", ".join(str(layers_per_block * n + 2) for n in range(1, 7))
        raise ValueError(
            f"ResNet v{version} depth must be {rule} with n >= 1 (e.g. {valid}, ...), got {depth!r}"
        )
    return (depth - 2) // layers_per_block


# Initial weights that depend on build_model's seed alone. An unseeded Keras initializer draws
# its seed from Python's process-wide `random`, which other threads draw from at any time (a Dask
# worker's event loop, a notebook kernel's), so each layer gets its seed from this generator.
_layer_seeds: ContextVar[random.Random | None] = ContextVar("_layer_seeds", default=None)


def seeded_initializer(name: str) -> keras.initializers.Initializer | str:
    """Keras initializer ``name`` with the next layer seed of the model being built by
    :func:`build_model` with a seed; ``name`` itself (Keras' own seeding) otherwise."""
    layer_seeds = _layer_seeds.get()
    if layer_seeds is None:
        return name
    initializer = keras.initializers.get(name)
    config = {**initializer.get_config(), "seed": layer_seeds.randrange(1, 2**31)}
    return type(initializer).from_config(config)


def _conv(
    filters: int, kernel_size: int, strides: int, l2: float, kernel_initializer: str
) -> layers.Conv2D:
    """A "same"-padded Conv2D, its kernel initializer seeded by :func:`seeded_initializer`."""
    return layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding="same",
        kernel_initializer=seeded_initializer(kernel_initializer),
        kernel_regularizer=keras.regularizers.L2(l2) if l2 else None,
    )


def _resnet_layer(
    x: Any,
    filters: int,
    l2: float,
    kernel_size: int = 3,
    strides: int = 1,
    activation: str | None = "relu",
    batch_normalization: bool = True,
    conv_first: bool = True,
) -> Any:
    """Conv-BN-activation (conv_first) or BN-activation-conv, as in the Keras example."""
    conv = _conv(filters, kernel_size, strides, l2, kernel_initializer="he_normal")
    if conv_first:
        x = conv(x)
        if batch_normalization:
            x = layers.BatchNormalization()(x)
        if activation is not None:
            x = layers.Activation(activation)(x)
        return x
    if batch_normalization:
        x = layers.BatchNormalization()(x)
    if activation is not None:
        x = layers.Activation(activation)(x)
    return conv(x)


def _classifier_head(x: Any, num_classes: int, kernel_initializer: str) -> Any:
    """Pooled feature map -> features (Flatten) -> logits (Dense) -> probabilities (Softmax)."""
    features = layers.Flatten(name="features")(x)
    logits = layers.Dense(
        num_classes, kernel_initializer=seeded_initializer(kernel_initializer), name="logits"
    )(features)
    return layers.Softmax(name="probabilities")(logits)


def _global_pool(x: Any) -> Any:
    # The example's AveragePooling2D(8) on 32x32 inputs: pool the whole final feature map.
    return layers.AveragePooling2D(pool_size=tuple(int(size) for size in x.shape[1:3]))(x)


def build_resnet_v1(
    depth: int,
    width: int = 16,
    num_classes: int = 10,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    l2: float = 1e-4,
    name: str | None = None,
) -> keras.Model:
    """ResNet v1 (basic blocks, post-activation), depth = 6n + 2, stage widths w, 2w, 4w."""
    blocks = resnet_blocks_per_stage(1, depth)
    inputs = _images_input(width, num_classes, input_shape)
    filters = width
    x = _resnet_layer(inputs, filters, l2)
    for stage in range(3):
        for block in range(blocks):
            strides = 2 if stage > 0 and block == 0 else 1
            y = _resnet_layer(x, filters, l2, strides=strides)
            y = _resnet_layer(y, filters, l2, activation=None)
            if strides != 1:
                # Projection shortcut (1x1 conv, no BN) where the shape changes.
                x = _resnet_layer(
                    x, filters, l2, kernel_size=1, strides=strides, activation=None,
                    batch_normalization=False,
                )  # fmt: skip
            x = layers.Activation("relu")(layers.Add()([x, y]))
        filters *= 2
    outputs = _classifier_head(_global_pool(x), num_classes, "he_normal")
    return keras.Model(inputs, outputs, name=name or f"resnet_v1_d{depth}_w{width}")


def build_resnet_v2(
    depth: int,
    width: int = 16,
    num_classes: int = 10,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    l2: float = 1e-4,
    name: str | None = None,
) -> keras.Model:
    """ResNet v2 (pre-activation bottlenecks), depth = 9n + 2.

    Bottleneck inner/output filters per stage: (w, 4w), (4w, 8w), (8w, 16w) for width w.
    """
    blocks = resnet_blocks_per_stage(2, depth)
    inputs = _images_input(width, num_classes, input_shape)
    filters_in = width
    x = _resnet_layer(inputs, filters_in, l2, conv_first=True)
    for stage in range(3):
        for block in range(blocks):
            activation: str | None = "relu"
            batch_normalization = True
            strides = 1
            if stage == 0:
                filters_out = filters_in * 4
                if block == 0:
                    # The stem already applied BN + ReLU.
                    activation, batch_normalization = None, False
            else:
                filters_out = filters_in * 2
                if block == 0:
                    strides = 2
            y = _resnet_layer(
                x, filters_in, l2, kernel_size=1, strides=strides, activation=activation,
                batch_normalization=batch_normalization, conv_first=False,
            )  # fmt: skip
            y = _resnet_layer(y, filters_in, l2, conv_first=False)
            y = _resnet_layer(y, filters_out, l2, kernel_size=1, conv_first=False)
            if block == 0:
                x = _resnet_layer(
                    x, filters_out, l2, kernel_size=1, strides=strides, activation=None,
                    batch_normalization=False,
                )  # fmt: skip
            x = layers.Add()([x, y])
        filters_in = filters_out
    x = layers.Activation("relu")(layers.BatchNormalization()(x))
    outputs = _classifier_head(_global_pool(x), num_classes, "he_normal")
    return keras.Model(inputs, outputs, name=name or f"resnet_v2_d{depth}_w{width}")


def build_vgg(
    config: str,
    width: int = 64,
    num_classes: int = 10,
    input_shape: tuple[int, int, int] = (32, 32, 3),
    name: str | None = None,
) -> keras.Model:
    """VGG "raw": torchvision configuration 11/13/16/19 with BN, Flatten, Dense; no decay.

    Conv channels are ``max(1, round(c * width / 64))`` for torchvision's c; every kernel starts
    from glorot_uniform, Keras' default.
    """
    config = str(config)
    if config not in VGG_CONFIGS:
        raise ValueError(f"VGG config must be one of {sorted(VGG_CONFIGS)}, got {config!r}")
    inputs = _images_input(width, num_classes, input_shape)
    x = inputs
    for item in VGG_CONFIGS[config]:
        if item == "M":
            x = layers.MaxPooling2D(pool_size=2, strides=2)(x)
            continue
        channels = max(1, round(int(item) * width / 64))
        x = _conv(channels, 3, 1, l2=0.0, kernel_initializer="glorot_uniform")(x)
        x = layers.Activation("relu")(layers.BatchNormalization()(x))
    outputs = _classifier_head(x, num_classes, "glorot_uniform")
    return keras.Model(inputs, outputs, name=name or f"vgg{config}_w{width}")


def set_batch_norm_momentum(model: keras.Model, momentum: float | None) -> keras.Model:
    """Set the moving-average momentum of every BatchNormalization layer (None: keep Keras' 0.99).

    A short training (a CPU scale's few hundred steps) leaves 0.99 moving averages far from the
    batch statistics, so the trained model predicts near-uniformly in inference mode; 0.9 converges.
    """
    if momentum is None:
        return model
    if not 0.0 < float(momentum) < 1.0:
        raise ValueError(f"bn_momentum must be in (0, 1), got {momentum!r}")
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = float(momentum)
    return model


def build_model(spec: dict[str, Any], seed: int | None = None) -> keras.Model:
    """Build the model a parameter spec describes, named ``spec["name"]``.

    Specs: ``{"name", "family": "resnet", "version": 1|2, "depth", "width"}`` or
    ``{"name", "family": "vgg", "config": "11"|"13"|"16"|"19", "width"}``; optional
    ``num_classes`` (10), ``input_shape`` ([32, 32, 3]), ``bn_momentum`` (Keras' 0.99) and, for
    ResNets, ``l2`` (1e-4).
    With ``seed``, every layer's initializer is seeded from it, so the initial weights depend
    only on the seed and the spec: not on what was built before in the process, nor on other
    threads drawing random numbers meanwhile.
    """
    if not isinstance(spec, dict) or "family" not in spec:
        raise ValueError(f"model spec must be a dict with a 'family' key, got {spec!r}")
    if seed is None:
        return _build_model(spec)
    seed_host_generators(int(seed))
    token = _layer_seeds.set(random.Random(int(seed)))
    try:
        return _build_model(spec)
    finally:
        _layer_seeds.reset(token)


def _build_model(spec: dict[str, Any]) -> keras.Model:
    family = spec["family"]
    common = {
        "num_classes": int(spec.get("num_classes", 10)),
        "input_shape": tuple(spec.get("input_shape", (32, 32, 3))),
        "name": spec.get("name"),
    }
    if family == "resnet":
        missing = [key for key in ("version", "depth") if key not in spec]
        if missing:
            raise ValueError(f"resnet spec {spec!r} lacks {missing}")
        builders = {1: build_resnet_v1, 2: build_resnet_v2}
        version = int(spec["version"])
        if version not in builders:
            raise ValueError(f"resnet spec version must be 1 or 2, got {spec['version']!r}")
        model = builders[version](
            depth=int(spec["depth"]),
            width=int(spec.get("width", 16)),
            l2=float(spec.get("l2", 1e-4)),
            **common,
        )
        return set_batch_norm_momentum(model, spec.get("bn_momentum"))
    if family == "vgg":
        if "config" not in spec:
            raise ValueError(f"vgg spec {spec!r} lacks 'config' (one of {sorted(VGG_CONFIGS)})")
        model = build_vgg(config=str(spec["config"]), width=int(spec.get("width", 64)), **common)
        return set_batch_norm_momentum(model, spec.get("bn_momentum"))
    raise ValueError(f"unknown model family {family!r} in spec {spec!r}; expected resnet or vgg")
