"""Process state a fit changes and gives back (cnn_estimators._runtime)."""

from __future__ import annotations

import os
import random
import signal
import threading

import numpy as np
import pytest
import torch

from cnn_estimators._runtime import (
    fit_seed,
    python_rng_state,
    python_rng_tuple,
    seeded,
    stop_after_batch_on_ctrl_c,
    torch_threads,
)


def draws():
    return (torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)])


def test_fit_seed_values_are_those_of_version_0_1():
    # Every result, and the name of every resumable run folder, derives from these: they
    # must not change between versions (the draw of randint(0, 2**31 - 1)).
    assert [fit_seed(s) for s in (0, 1, 42, 12345)] == [
        209652396,
        1791095845,
        1608637542,
        1845187042,
    ]


def test_fit_seed_follows_random_state():
    assert fit_seed(0) == fit_seed(0)
    assert len({fit_seed(s) for s in range(20)}) == 20
    rng = np.random.RandomState(3)
    first, second = fit_seed(rng), fit_seed(rng)
    assert first != second  # a RandomState instance advances, as in scikit-learn
    assert first == fit_seed(np.random.RandomState(3))
    assert 0 <= fit_seed(None) < 2**31 - 1


def test_seeded_makes_all_three_generators_reproducible_and_seed_dependent():
    with seeded(5):
        a = draws()
    with seeded(5):
        b = draws()
    with seeded(6):
        c = draws()
    assert a == b
    assert all(x != y for x, y in zip(a, c, strict=True))  # torch, numpy and random all change


def test_seeded_gives_back_the_callers_generator_states():
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)
    expected = draws()
    torch.manual_seed(1)
    np.random.seed(1)
    random.seed(1)
    with seeded(123):
        draws()
    assert draws() == expected


def test_seeded_restores_even_when_the_fit_raises():
    torch.manual_seed(2)
    state = torch.get_rng_state()
    np_state = np.random.get_state()
    with pytest.raises(RuntimeError), seeded(9):
        np.random.rand()
        raise RuntimeError
    assert torch.equal(torch.get_rng_state(), state)
    assert np.random.get_state()[2] == np_state[2]
    np.testing.assert_array_equal(np.random.get_state()[1], np_state[1])


def test_seeded_sets_threads_for_its_duration():
    before = torch.get_num_threads()
    with seeded(0, threads=1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_torch_threads_restores_the_count_after_an_error():
    before = torch.get_num_threads()
    other = 1 if before != 1 else 2
    with pytest.raises(ValueError), torch_threads(other):
        assert torch.get_num_threads() == other
        raise ValueError
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before


def test_first_ctrl_c_requests_a_stop_the_second_interrupts():
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are delivered to the main thread only")
    original = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        requests = []
        with pytest.raises(KeyboardInterrupt):
            with stop_after_batch_on_ctrl_c(lambda: requests.append(1)):
                os.kill(os.getpid(), signal.SIGINT)
                assert requests == [1]  # the first one only asked to stop
                os.kill(os.getpid(), signal.SIGINT)  # the second one interrupts
        assert requests == [1]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, original)


def test_ctrl_c_handler_of_someone_else_is_left_alone():
    def theirs(signum, frame):
        pass

    original = signal.signal(signal.SIGINT, theirs)
    try:
        with stop_after_batch_on_ctrl_c(lambda: None):
            assert signal.getsignal(signal.SIGINT) is theirs
    finally:
        signal.signal(signal.SIGINT, original)


def test_python_rng_state_round_trip():
    random.seed(4)
    state = python_rng_state()
    expected = [random.random() for _ in range(3)]
    random.setstate(python_rng_tuple(state))
    assert [random.random() for _ in range(3)] == expected
    assert all(isinstance(v, int) for v in state[1])
