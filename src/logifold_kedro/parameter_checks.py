"""The project's parameters, checked before any node runs.

Kedro 1.7 validates a node's ``params:`` input only when the node function annotates it with a
Pydantic model (or dataclass), and then hands the node the model instance instead of the dict.
This project's node functions take plain dicts, so the same Pydantic models are applied here, by
``hooks.ParameterCheckHook`` in ``before_pipeline_run``, to the raw parameters: a bad value stops
the run with its key, its value and what is allowed before any node runs and anything is written.
The nodes still receive the parameters unchanged.

The top-level ``seed`` also names the run folder (``<scale>/seed<seed>``, the catalog's ``_run``);
``check_run_folder`` checks it where the catalog is formed (``after_catalog_created``: runs, the
importer and notebooks) and that the folder and ``params:seed`` agree.

Unknown keys are allowed (other stages may add parameters); every known key is checked. What the
models accept mirrors what the nodes accept (``tf_lib.apgd.check_apgd_setting``,
``logifold.threshold``, ``logifold.bootstrap``, ``data.splits``, ``torch_lib.surrogate``...),
which cannot be imported here without loading TensorFlow or torch.
"""

from __future__ import annotations

import re
import types
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo

#: numpy's seeds (np.random.default_rng, RandomState) are 0 .. 2**32 - 1.
SEED_MAX = 2**32 - 1
SEED_RULE = f"an integer in 0..{SEED_MAX}"
_RUN_FOLDER = re.compile(r"(?:^|/)seed(?P<seed>[^/{}]*)(?=/|$)")


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


class Split(_Group):
    val_fraction: Fraction = 0.2
    seed: Seed = 42
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


class SpSplit(_Group):
    val_fraction: Fraction = 0.2
    seed: Seed = 42


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


class U2(_Group):
    val_fraction: Fraction = 0.1
    seed: Seed = 42
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


class ParameterError(ValueError):
    """Parameters that no node could use; the message lists each key, value and rule."""


def _value_at(params: Mapping[str, Any], location: Iterable[Any]) -> Any:
    value: Any = params
    for part in location:
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list | tuple) and isinstance(part, int) and part < len(value):
            value = value[part]
        else:
            return "(missing)"
    return value


def _dotted(location: Iterable[Any]) -> str:
    # pydantic adds the model or type name to locations inside unions; keep the keys.
    parts = [str(p) for p in location if not str(p)[:1].isupper() and "[" not in str(p)]
    return ".".join(parts) or "(parameters)"


_BOUNDS = (
    (annotated_types.Ge, "ge", ">="),
    (annotated_types.Gt, "gt", ">"),
    (annotated_types.Le, "le", "<="),
    (annotated_types.Lt, "lt", "<"),
)


def _flat(metadata: Iterable[Any]) -> list[Any]:
    # Field(...) inside Annotated carries its constraints in its own metadata list.
    items = []
    for item in metadata:
        items += _flat(item.metadata) if isinstance(item, FieldInfo) else [item]
    return items


def _bounds(metadata: Iterable[Any]) -> str:
    parts = []
    for item in _flat(metadata):
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str):
            parts.append(f"matching {pattern}")
        for kind, attribute, sign in _BOUNDS:
            if isinstance(item, kind):
                parts.append(f"{sign} {getattr(item, attribute)}")
    return " and ".join(parts)


def allowed_values(annotation: Any, metadata: Iterable[Any] = ()) -> str:
    """What a field accepts, in words: ``a finite number >= 0``, ``one of 'error', 'skip'``."""
    metadata = list(metadata)
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *extra = get_args(annotation)
        return allowed_values(inner, [*extra, *metadata])
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        text = " or ".join(allowed_values(a, metadata) for a in options)
        return text + " or null" if len(options) < len(get_args(annotation)) else text
    if origin is Literal:
        return "one of " + ", ".join(repr(v) for v in get_args(annotation))
    if origin is list:
        (item,) = get_args(annotation) or (Any,)
        return f"a list of {allowed_values(item)}"
    if origin is tuple:
        return "a pair [" + ", ".join(allowed_values(a) for a in get_args(annotation)) + "]"
    if origin is dict:
        return f"a mapping of names to {allowed_values(get_args(annotation)[1])}"
    bounds = _bounds(metadata)
    names = {int: "an integer", float: "a finite number", bool: "true or false", str: "text"}
    if annotation in names:
        return f"{names[annotation]} {bounds}".strip()
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"a mapping ({annotation.__name__} keys: {', '.join(annotation.model_fields)})"
    return getattr(annotation, "__name__", str(annotation))


def _field_rule(location: Iterable[Any]) -> str:
    """``allowed_values`` of the field at a pydantic error location, or "" if none is known."""
    annotation: Any = ProjectParameters
    metadata: list[Any] = []
    for part in location:
        while get_origin(annotation) in (Union, types.UnionType, Annotated):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if get_origin(annotation) is Annotated:
                metadata = [*metadata, *get_args(annotation)[1:]]
            annotation = args[0]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return ""
            annotation, metadata = field.annotation, list(field.metadata)
        elif get_origin(annotation) in (dict, list):
            annotation, metadata = get_args(annotation)[-1], []
        elif get_origin(annotation) is tuple and isinstance(part, int):
            annotation, metadata = get_args(annotation)[part], []
        else:
            return ""
    return allowed_values(annotation, metadata)


def describe_errors(error: ValidationError, params: Mapping[str, Any]) -> list[str]:
    """One line per problem: ``- <key> = <value>: <what went wrong>; allowed: <rule>``."""
    lines = []
    for problem in error.errors():
        location = [p for p in problem["loc"] if not str(p)[:1].isupper() and "[" not in str(p)]
        key = _dotted(location)
        value = _value_at(params, location)
        message = problem["msg"].removeprefix("Value error, ")
        try:  # the rule is a help; never let describing it hide the error itself
            rule = _field_rule(location) if problem["type"] != "value_error" else ""
        except (TypeError, ValueError, IndexError):
            rule = ""
        lines.append(f"- {key} = {value!r}: {message}" + (f"; allowed: {rule}" if rule else ""))
    return sorted(set(lines), key=lines.index)


def check_parameters(params: Mapping[str, Any]) -> None:
    """Raise ParameterError naming every parameter a node would refuse, else return.

    ``params`` is the merged parameters dict (conf files and ``--params``), as Kedro's
    ``parameters`` entry holds it. Nothing is converted or returned: the nodes get the values
    unchanged.
    """
    try:
        ProjectParameters.model_validate(dict(params))
    except ValidationError as error:
        raise ParameterError(
            "these parameters cannot be used (nothing was run):\n"
            + "\n".join(describe_errors(error, params))
            + "\nFix them in conf/<env>/parameters*.yml or in --params, then run again."
        ) from None


def check_seed(seed: Any, source: str = "params:seed") -> int:
    """The seed as an int; ParameterError unless it is an integer in 0..2**32 - 1."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= SEED_MAX:
        raise ParameterError(
            f"- {source} = {seed!r}: the seed must be {SEED_RULE} (it seeds NumPy, TensorFlow "
            "and torch and names the run folder <scale>/seed<seed>); e.g. --params seed=7"
        )
    return seed


def run_folder_seeds(filepaths: Iterable[str]) -> set[str]:
    """The ``<seed>`` texts of the ``seed<seed>`` folders in catalog paths (the run folder)."""
    return {match["seed"] for path in filepaths for match in _RUN_FOLDER.finditer(str(path))}


def check_run_folder(filepaths: Iterable[str], params_seed: Any) -> None:
    """Raise ParameterError unless the run folder's seed is valid and equals ``params:seed``.

    The catalog forms the folder from the runtime parameter ``seed``, which
    ``hooks.RunFolderSeedHook`` sets to ``params:seed``; a catalog path that names another seed
    folder, or a session without the project's hooks, would give the nodes one seed and the
    outputs the folder of another.
    """
    seeds = run_folder_seeds(filepaths)
    for text in sorted(seeds):
        if not re.fullmatch(r"\d+", text) or int(text) > SEED_MAX:
            raise ParameterError(
                f"- seed = {text!r}: the run folder would be seed{text}/; the seed must be "
                f"{SEED_RULE} (e.g. --params seed=7)"
            )
    check_seed(params_seed)
    if seeds and seeds != {str(params_seed)}:
        folder = ", ".join(f"seed{s}" for s in sorted(seeds))
        raise ParameterError(
            f"- seed: params:seed is {params_seed} but the run folder is {folder}: build run "
            "output paths from `${_run}` (conf/base/catalog.yml) and keep the project's hooks "
            f"(settings.py), or pass the seed on the command line, `--params seed={params_seed}`."
        )
