"""The failure simulator against Daly's expected wall time."""

from __future__ import annotations

import pytest

from blockloop import daly_interval
from blockloop.scheduling.simulate import expected_wall_time, simulate

# (cost, mtbf, restart, interval): delta/M from 1/1000 to 1/3, intervals at, below and
# above Daly's optimum; work = 10 intervals so that T_s / tau is whole
CASES = [
    (5.0, 300.0, 10.0, daly_interval(5.0, 300.0)),  # delta/M = 1/60
    (5.0, 15.0, 2.0, daly_interval(5.0, 15.0)),  # delta/M = 1/3
    (1.0, 1000.0, 0.0, daly_interval(1.0, 1000.0)),
    (2.0, 60.0, 5.0, 3.0),  # far below the optimum
    (2.0, 60.0, 5.0, 60.0),  # far above it
    (10.0, 30.0, 10.0, 20.0),
]


@pytest.mark.parametrize(("cost", "mtbf", "restart", "interval"), CASES)
def test_simulated_mean_wall_time_matches_daly_within_one_percent(cost, mtbf, restart, interval):
    work = 10 * interval
    model = expected_wall_time(work, interval, cost, mtbf, restart)
    times = simulate(work, interval, cost, mtbf, restart, runs=40_000, seed=1)
    stderr = times.std() / len(times) ** 0.5
    assert stderr < 0.004 * model  # enough runs to tell 1 % apart
    assert times.mean() == pytest.approx(model, rel=0.01)


def test_no_failures_means_no_waste_beyond_checkpoints():
    times = simulate(100.0, 10.0, 1.0, 1e12, 5.0, runs=10)
    assert times == pytest.approx(110.0)


def test_daly_interval_minimises_the_model():
    cost, mtbf = 5.0, 360.0
    best = daly_interval(cost, mtbf)

    def waste(tau):
        return expected_wall_time(1.0, tau, cost, mtbf) - 1.0

    assert waste(best) < waste(0.8 * best) and waste(best) < waste(1.25 * best)


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="positive"):
        simulate(10.0, 0.0, 1.0, 10.0)
