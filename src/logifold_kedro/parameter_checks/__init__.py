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

Unknown keys are allowed (other stages may add parameters); every known key is checked.

- ``schema``: the Pydantic models of the parameter groups (``ProjectParameters`` holds them all),
  mirroring what the nodes accept;
- ``messages``: ``check_parameters`` and its ``ParameterError``, one line per key, value and rule;
- ``run_folder``: ``check_seed`` and ``check_run_folder``.
"""

from logifold_kedro.parameter_checks.messages import (
    ParameterError,
    allowed_values,
    check_parameters,
    describe_errors,
)
from logifold_kedro.parameter_checks.run_folder import (
    check_run_folder,
    check_seed,
    run_folder_seeds,
)
from logifold_kedro.parameter_checks.schema import (
    SEED_MAX,
    SEED_RULE,
    U2,
    AdaptiveAttacks,
    Apgd,
    ApgdSetting,
    Augment,
    AutoAttack,
    AutoAttackName,
    Bootstrap,
    ConfidentCore,
    Experiment1,
    Float,
    Fraction,
    Frameworks,
    HeldOut,
    Int,
    LrStep,
    ModelSpec,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ProjectParameters,
    Recipe,
    Seed,
    Share,
    SoftImm,
    Split,
    SpSplit,
    Surrogate,
    TensorFlowSetup,
    Threshold,
    TorchSetup,
)

__all__ = [
    "AdaptiveAttacks",
    "Apgd",
    "ApgdSetting",
    "Augment",
    "AutoAttack",
    "AutoAttackName",
    "Bootstrap",
    "ConfidentCore",
    "Experiment1",
    "Float",
    "Fraction",
    "Frameworks",
    "HeldOut",
    "Int",
    "LrStep",
    "ModelSpec",
    "NonNegativeFloat",
    "NonNegativeInt",
    "ParameterError",
    "PositiveFloat",
    "PositiveInt",
    "ProjectParameters",
    "Recipe",
    "SEED_MAX",
    "SEED_RULE",
    "Seed",
    "Share",
    "SoftImm",
    "SpSplit",
    "Split",
    "Surrogate",
    "TensorFlowSetup",
    "Threshold",
    "TorchSetup",
    "U2",
    "allowed_values",
    "check_parameters",
    "check_run_folder",
    "check_seed",
    "describe_errors",
    "run_folder_seeds",
]
