"""Seeding of the host-side generators (no framework imported here).

`seed_host_generators` seeds Python's ``random`` and NumPy's global generator, which ART's
random starts and Keras' unseeded seed generators draw from. The TensorFlow and torch seeds are
set once per process by the framework setup (``tf_lib.setup``, ``torch_lib.setup``).

Why not ``keras.utils.set_random_seed`` in every node: it also calls ``tf.random.set_seed``,
which clears TensorFlow's cache of instantiated functions, so every compiled pass in the process
(the trainers' steps, the predictions', APGD's) is optimised again on its next call, a cost
paid again after every reseed (benchmarks/README.md has the measurement). Our TensorFlow code
draws from explicit seeds (seeded initializers, stateless ops), so TensorFlow's global seed does
not change its results.
"""

from __future__ import annotations

import random

import numpy as np


def seed_host_generators(seed: int) -> None:
    """Seed Python's ``random`` with `seed` and NumPy's global generator with ``seed mod 2^32``."""
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)
