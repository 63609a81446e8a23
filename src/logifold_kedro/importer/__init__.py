"""Import the reference release's published artifacts into the catalog, without training.

    python -m logifold_kedro.importer models.zip specialized_models.zip adversarial_samples.zip \\
        [--env paper] [--dry-run]

Run it from the project root, after ``kedro run --pipelines training --tags data`` (the clean
splits every attacked set is checked against). Every artifact becomes a new version of the
matching catalog entry (the project's names, ``pipelines.naming``), all with one version
timestamp (the import's Kedro session id); nothing is ever overwritten.

What is recognised (member paths may sit inside folders):

- ``*.keras`` in ``models.zip``: base models, ``resnet_v1_n3_d20.keras`` ->
  ``model__u0__resnet_v1_d20`` (ResNets: ``v1``/``v2`` and ``d20``/``d56``; VGGs: ``vgg11_raw``...).
- ``*.keras`` in ``specialized_models.zip``: first-generation specialists ->
  ``model__sps__<base>``; under ``second_layer/``: U2' -> ``model__u2_<environment>__<base>``, the
  environment (union, weak or strong) read from the folder or file name.
  Each model also gets a small ``history__<committee>__<base>`` record (``"imported": true``) that
  the summaries and the evaluation read in place of a training history.
- ``apgdce_ART/<split>_apgdce_l2_eps0p5_step0p2_it2_rinit4_against_U0.npz`` (keys ``x_adv``, ``y``,
  optional ``split``, ``norm``, ``eps``, ``eps_step``, ``max_iter``, ``nb_random_init``, ``tag``)
  -> ``<target>_apgd_<setting>_<split>``: ``it2`` is weak, ``it10`` strong; target ``U0`` -> ``u0``,
  ``U1`` -> ``u1``, ``SPs`` -> ``sps``, a base model name -> that model (white-box).
- ``autoattack_torch/x_adv_test_*.npy`` -> ``autoattack_test`` (+ ``autoattack_transfer_report``),
  labelled with the clean test labels (a ``y*.npy`` beside it must agree with them).

What is checked before anything is written (``checks``; a failure makes the member invalid):

- sizes first: a member's declared uncompressed size, and a ``.npy`` header's shape and dtype
  against the bytes that follow it, before anything is inflated (``arrays``);
- every model loads with Keras in safe mode, takes 32x32x3 images, has finite weights and gives
  10 probabilities summing to 1 on clean test images (``models``; needs TensorFlow);
- every attacked set is a perturbation of its clean split, image by image (every L2 distance
  <= eps + 0.25), with exactly its labels; settings stored in it must be numbers that agree
  with its file name.

Image sets are stored in the project's contract: float32 NHWC in [0, 1] (NCHW is transposed,
uint8 is divided by 255, both with a note), int64 labels in 0..9 (one-hot rows are turned into
class indices), the attack settings beside them. Zip members with absolute paths, ``..`` or
symbolic links are refused and never read.

All or nothing: if any member is invalid, nothing is written (the summary lists every member's
status and reason); otherwise every staged file is moved into its version atomically. The run
folder's lock (``run_lock``) is held meanwhile, so an import never mixes with a running stage.
"""

from logifold_kedro.importer.arrays import (
    alignment,
    check_image_set,
    read_npy_checked,
    to_labels,
    to_nhwc_unit_float,
)
from logifold_kedro.importer.command import ImportRefusedError, import_release, main
from logifold_kedro.importer.models import check_keras_archive, check_keras_model
from logifold_kedro.importer.names import (
    InvalidArtifactError,
    UnmappedError,
    apgd_entry,
    apgd_target,
    base_model_name,
    classify_model,
    merge_apgd_settings,
    parse_apgd_name,
    tokens,
    unsafe_member_reason,
)
from logifold_kedro.importer.report import ImportReport, Row, format_report
from logifold_kedro.pipelines.naming import member_id

__all__ = [
    "ImportRefusedError",
    "ImportReport",
    "InvalidArtifactError",
    "Row",
    "UnmappedError",
    "alignment",
    "apgd_entry",
    "apgd_target",
    "base_model_name",
    "check_image_set",
    "check_keras_archive",
    "check_keras_model",
    "classify_model",
    "format_report",
    "import_release",
    "main",
    "member_id",
    "merge_apgd_settings",
    "parse_apgd_name",
    "read_npy_checked",
    "to_labels",
    "to_nhwc_unit_float",
    "tokens",
    "unsafe_member_reason",
]
