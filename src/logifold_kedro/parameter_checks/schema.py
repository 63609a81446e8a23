"""The Pydantic models of the project's parameter groups, and the number types they use.

Each model mirrors what the nodes accept (``tf_lib.apgd.check_apgd_setting``,
``logifold.threshold``, ``logifold.bootstrap``, ``data.splits``, ``torch_lib.surrogate``...),
which cannot be imported here without loading TensorFlow or torch. A group checks its known keys
and passes other keys through (other stages may add parameters).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

#: numpy's seeds (np.random.default_rng, RandomState) are 0 .. 2**32 - 1.
SEED_MAX = 2**32 - 1
SEED_RULE = f"an integer in 0..{SEED_MAX}"


def _no_bool(value: Any) -> Any:
    # YAML's true/false would pass as 1/0 where a number is expected.
    if isinstance(value, bool):
        raise ValueError("a number, not true/false")
    return value


Int = Annotated[int, BeforeValidator(_no_bool)]
Float = Annotated[float, BeforeValidator(_no_bool), Field(allow_inf_nan=False)]
PositiveInt = Annotated[Int, Field(ge=1)]
NonNegativeInt = Annotated[Int, Field(ge=0)]
PositiveFloat = Annotated[Float, Field(gt=0)]
NonNegativeFloat = Annotated[Float, Field(ge=0)]
Fraction = Annotated[Float, Field(gt=0, lt=1)]  # strictly between 0 and 1
Share = Annotated[Float, Field(ge=0, le=1)]  # 0 .. 1 inclusive
Seed = Annotated[Int, Field(ge=0, le=SEED_MAX)]


class _Group(BaseModel):
    """A parameter group: known keys checked, other keys passed through."""

    model_config = ConfigDict(extra="allow", strict=False)


class TensorFlowSetup(_Group):
    intra_op_threads: PositiveInt | None = None
    inter_op_threads: PositiveInt | None = None
    memory_growth: bool = True
    deterministic: bool = False


class TorchSetup(_Group):
    num_threads: PositiveInt | None = None
    device: Annotated[str, Field(pattern=r"^(auto|cpu|cuda(:\d+)?|mps)$")] = "auto"
    deterministic: bool = False


class Frameworks(_Group):
    tensorflow: TensorFlowSetup | None = None
    torch: TorchSetup | None = None


class HeldOut(_Group):
    """A validation share held out of a training set, drawn with a seed (``data.splits``)."""

    val_fraction: Fraction = 0.2
    seed: Seed = 42


class Split(HeldOut):
    train_pool_size: Annotated[Int, Field(ge=2)] | None = None
    test_size: PositiveInt | None = None


class ModelSpec(_Group):
    family: Literal["resnet", "vgg"]
    version: Literal[1, 2] | None = None
    depth: PositiveInt | None = None
    width: PositiveInt | None = None
    config: Literal["11", "13", "16", "19"] | None = None
    bn_momentum: Fraction | None = None

    @field_validator("config", mode="before")
    @classmethod
    def _config_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _family_keys(self) -> ModelSpec:
        if self.family == "resnet":
            if self.version is None or self.depth is None:
                raise ValueError("a resnet spec needs version (1 or 2) and depth")
            per_block = 6 if self.version == 1 else 9  # depth = 6n + 2 (v1), 9n + 2 (v2)
            if self.depth < per_block + 2 or (self.depth - 2) % per_block:
                valid = ", ".join(str(per_block * n + 2) for n in range(1, 7))
                raise ValueError(
                    f"ResNet v{self.version} depth must be {per_block}n + 2 ({valid}, ...), "
                    f"got {self.depth}"
                )
        elif self.config is None:
            raise ValueError("a vgg spec needs config: one of '11', '13', '16', '19'")
        return self


class Augment(_Group):
    width_shift: Annotated[Float, Field(ge=0, lt=1)] = 0.0
    height_shift: Annotated[Float, Field(ge=0, lt=1)] = 0.0
    horizontal_flip: bool = False


LrStep = tuple[NonNegativeInt, PositiveFloat]


def _increasing_epochs(schedule: list[tuple[int, float]]) -> list[tuple[int, float]]:
    epochs = [epoch for epoch, _ in schedule]
    if epochs != sorted(set(epochs)):
        raise ValueError(f"epochs must be strictly increasing, got {epochs}")
    return schedule


class Recipe(_Group):
    epochs: NonNegativeInt = 1
    batch_size: PositiveInt = 32
    learning_rate: PositiveFloat = 0.001
    lr_schedule: list[LrStep] = Field(default_factory=list)
    augment: Augment | None = None
    log_every_batches: PositiveInt | None = None
    predict_batch_size: PositiveInt = 256

    check_schedule = field_validator("lr_schedule")(_increasing_epochs)


class ApgdSetting(BaseModel):
    """One APGD setting (``tf_lib.apgd.check_apgd_setting``: these keys and no others)."""

    model_config = ConfigDict(extra="forbid")
    norm: Literal[2, "2", "2.0", "l2", "L2"] = 2
    eps: PositiveFloat
    eps_step: PositiveFloat
    max_iter: PositiveInt
    nb_random_init: PositiveInt
    batch_size: PositiveInt

    @field_validator("norm", mode="before")
    @classmethod
    def _norm_two(cls, value: Any) -> Any:
        return 2 if isinstance(value, float) and value == 2.0 else value


class Apgd(_Group):
    weak: ApgdSetting | None = None
    strong: ApgdSetting | None = None


class SpSplit(HeldOut):
    """The specialists' validation share (the defaults of ``HeldOut``)."""


class Threshold(_Group):
    target: Share
    start: NonNegativeFloat = 2.0
    stop: NonNegativeFloat = 0.02
    step: PositiveFloat = 0.01
    min_core: NonNegativeInt = 10
    decimals: NonNegativeInt = 3

    @model_validator(mode="after")
    def _descending(self) -> Threshold:
        if self.start < self.stop:
            raise ValueError(
                f"the scan descends: start ({self.start}) must be >= stop ({self.stop})"
            )
        return self


class U2(HeldOut):
    val_fraction: Fraction = 0.1
    min_out_of_core_fraction: Share = 0.1
    policy: Literal["error", "skip"] = Field(
        "error", description="error: stop when too few samples are out of U1's core; skip"
    )


class Experiment1(_Group):
    entropy_threshold: NonNegativeFloat = 0.95


class Bootstrap(_Group):
    n_resamples: PositiveInt = 1000
    confidence: Fraction = 0.95
    seed: Seed = 0
    threshold_resamples: PositiveInt = 200


class SoftImm(_Group):
    temperature: PositiveFloat = 0.05


class ConfidentCore(_Group):
    entropy_weight: NonNegativeFloat = 1.0


class AdaptiveAttacks(_Group):
    num_images: PositiveInt | None = None
    environments: list[Literal["union", "weak", "strong"]] = Field(min_length=1)
    settings: list[Literal["weak", "strong", "strongest"]] | None = None
    soft_imm: SoftImm | None = None
    confident_core: ConfidentCore | None = None
    apgd_strongest: ApgdSetting | None = None


class Surrogate(_Group):
    epochs: NonNegativeInt = 0
    batch_size: PositiveInt = 64
    learning_rate: NonNegativeFloat = 0.01
    momentum: Annotated[Float, Field(ge=0, lt=1)] = 0.9
    weight_decay: NonNegativeFloat = 0.0
    optimizer: Literal["sgd", "adam", "SGD", "Adam"] = "sgd"
    lr_schedule: list[LrStep] = Field(default_factory=list)

    check_schedule = field_validator("lr_schedule")(_increasing_epochs)

    @model_validator(mode="after")
    def _learning_rate_when_training(self) -> Surrogate:
        if self.epochs > 0 and self.learning_rate <= 0:
            raise ValueError("learning_rate must be > 0 when epochs > 0 (the surrogate trains)")
        return self


AutoAttackName = Literal["apgd-ce", "apgd-dlr", "apgd-t", "fab", "fab-t", "square"]


class AutoAttack(_Group):
    norm: Literal["L2", "Linf", "L1"] = "L2"
    eps: PositiveFloat = 0.5
    version: Literal["standard", "plus", "rand", "custom"] = "standard"
    attacks: list[AutoAttackName] | None = None
    batch_size: PositiveInt = 64
    num_images: PositiveInt | None = None
    device: Annotated[str, Field(pattern=r"^(auto|cpu|cuda(:\d+)?|mps)$")] = "cpu"

    @model_validator(mode="after")
    def _attacks_with_custom(self) -> AutoAttack:
        if self.version == "custom" and not self.attacks:
            raise ValueError("version 'custom' needs a list of attacks, e.g. [apgd-ce]")
        if self.version != "custom" and self.attacks is not None:
            raise ValueError(f"attacks is used only with version 'custom' (version {self.version})")
        return self


class ProjectParameters(_Group):
    """Every parameter group of conf/<env>/parameters*.yml that a node reads."""

    seed: Seed = 42
    num_classes: Literal[10] = 10
    scale: str | None = None
    frameworks: Frameworks | None = None
    split: Split | None = None
    u0_models: dict[str, ModelSpec] | None = None
    training_recipe: Recipe | None = None
    specialist_recipe: Recipe | None = None
    apgd: Apgd | None = None
    sp_split: SpSplit | None = None
    threshold: Threshold | None = None
    u2: U2 | None = None
    experiment1: Experiment1 | None = None
    bootstrap: Bootstrap | None = None
    adaptive_attacks: AdaptiveAttacks | None = None
    surrogate: Surrogate | None = None
    autoattack: AutoAttack | None = None
