"""The parameterization contract and its one guard, on toy schemes whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from subgrid.core.contract import Guarded, Parameterization, Variable, diagnostics

COLUMN = ("column",)


class Doubling:
    """A toy emulator: y = 2x, NaN where x > 0.5; out of distribution where x < 0.1."""

    inputs = {"x": Variable(COLUMN, "1", "x")}
    outputs = {"y": Variable(COLUMN, "1", "y")}

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def tendencies(self, state):
        self.seen.append(np.array(state["x"]))
        return {"y": np.where(state["x"] > 0.5, np.nan, 2.0 * state["x"])}

    def out_of_distribution(self, state):
        return state["x"] < 0.1


class Negating:
    """A toy physics scheme: y = -x, plus a diagnostic the emulator does not return."""

    inputs = Doubling.inputs
    outputs = {"y": Variable(COLUMN, "1", "y"), "extra": Variable(COLUMN, "1", "extra")}

    def tendencies(self, state):
        return {"y": -np.asarray(state["x"]), "extra": np.zeros(np.shape(state["x"]))}

    def diagnostics(self, state):
        return {"calls": 1}


def test_schemes_and_the_guard_are_parameterizations():
    assert isinstance(Doubling(), Parameterization)
    assert isinstance(Guarded(Doubling(), Negating()), Parameterization)
    assert not isinstance(object(), Parameterization)
    assert diagnostics(Negating(), {}) == {"calls": 1}
    assert diagnostics(Doubling(), {}) == {}


def test_flagged_and_non_finite_columns_go_to_the_fallback_and_are_counted():
    emulator = Doubling()
    guard = Guarded(emulator, Negating())
    state = {"x": np.array([0.05, 0.3, 0.7, 0.2])}
    before = state["x"].copy()
    out = guard.tendencies(state)
    np.testing.assert_array_equal(out["y"], [-0.05, 0.6, -0.7, 0.4])
    assert set(out) == {"y"}  # the emulator's outputs, not the fallback's extras
    np.testing.assert_array_equal(state["x"], before)  # pure
    np.testing.assert_array_equal(emulator.seen[0], [0.3, 0.7, 0.2])  # flagged column never reached it
    assert (guard.counts.out_of_distribution_columns, guard.counts.non_finite_columns) == (1, 1)
    assert guard.counts.fallback_columns == 2 and guard.counts.columns == 4


def test_every_column_flagged_still_returns_the_emulator_outputs():
    guard = Guarded(Doubling(), Negating())
    out = guard.tendencies({"x": np.array([0.01, 0.02])})
    assert set(out) == {"y"}
    np.testing.assert_array_equal(out["y"], [-0.01, -0.02])


def test_without_a_fallback_non_finite_outputs_pass_through_for_the_host_to_catch():
    guard = Guarded(Doubling(), out_of_distribution=None)
    out = guard.tendencies({"x": np.array([0.3, 0.9])})
    assert np.isnan(out["y"][1]) and out["y"][0] == 0.6
    with pytest.raises(ValueError, match="needs a fallback"):
        Guarded(Doubling())  # its own out-of-distribution test, but nowhere to send the columns


def test_blow_up_latches_nan_and_stops_calling_the_emulator():
    emulator = Doubling()
    guard = Guarded(emulator, out_of_distribution=None, blow_up=lambda state: bool(np.abs(state["x"]).max() > 10))
    guard.tendencies({"x": np.array([0.2, 0.3])})
    out = guard.tendencies({"x": np.array([0.2, 20.0])})
    assert guard.counts.blow_up_call == 1 and np.isnan(out["y"]).all() and out["y"].shape == (2,)
    out = guard.tendencies({"x": np.array([0.2, 0.3])})  # recovered input: still latched
    assert np.isnan(out["y"]).all() and len(emulator.seen) == 1
