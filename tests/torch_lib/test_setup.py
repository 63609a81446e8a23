from __future__ import annotations

import numpy as np
import pytest
import torch

from logifold_kedro.torch_lib.setup import configure_torch, resolve_device


@pytest.fixture
def restore_torch_state():
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic)


def test_configure_torch_seeds_numpy_and_torch(restore_torch_state):
    summary = configure_torch(seed=7)
    first = (torch.rand(3), np.random.rand(3))
    configure_torch(seed=7)
    second = (torch.rand(3), np.random.rand(3))
    assert torch.equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    configure_torch(seed=8)
    assert not torch.equal(torch.rand(3), first[0])
    assert summary["seed"] == 7
    assert summary["torch"] == torch.__version__


def test_configure_torch_threads_device_and_determinism(restore_torch_state):
    summary = configure_torch(seed=0, num_threads=1, device="auto", deterministic=True)
    assert torch.get_num_threads() == 1 and summary["num_threads"] == 1
    assert summary["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert torch.are_deterministic_algorithms_enabled() and summary["deterministic"] is True
    configure_torch(seed=0, deterministic=False)
    assert not torch.are_deterministic_algorithms_enabled()


def test_resolve_device_rejects_unknown_and_unavailable_devices():
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(ValueError, match="unknown torch device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda:0")


def test_configure_torch_rejects_zero_threads(restore_torch_state):
    with pytest.raises(ValueError, match="num_threads"):
        configure_torch(seed=0, num_threads=0)
