"""Statistics on data with known answers."""
import numpy as np
import pytest

from reports import stats


def test_iqm_drops_the_outer_quartiles():
    # 8 values: the 2 lowest and 2 highest are cut, mean of 3,4,5,6 = 4.5 even with outliers.
    assert stats.iqm([-1000, 2, 3, 4, 5, 6, 7, 1000]) == pytest.approx(4.5)
    assert stats.iqm(np.arange(1, 9)) == pytest.approx(4.5)
    # a (runs, tasks) matrix is pooled: 12 values 0..11, cut 3 per end -> mean of 3..8
    assert stats.iqm(np.arange(12).reshape(4, 3)) == pytest.approx(5.5)
    # fewer than 4 values: nothing is cut (rliable/scipy trim_mean convention)
    assert stats.iqm([0.0, 0.0, 3.0]) == pytest.approx(1.0)
    assert np.isnan(stats.iqm([]))


def test_bootstrap_ci_matches_exhaustive_resampling_of_two_runs():
    # Two runs {0, 1}: a resample of size 2 has mean 0, 0.5 or 1 with probability 1/4, 1/2, 1/4,
    # so the 2.5% and 97.5% quantiles are 0 and 1 and the point estimate is 0.5.
    point, lower, upper = stats.bootstrap_ci([0.0, 1.0], stats.mean, reps=4000, seed=1)
    assert (point, lower, upper) == (0.5, 0.0, 1.0)


def test_bootstrap_ci_matches_hand_computed_quantiles():
    # Same indices as the implementation draws: replicate r's mean computed by hand.
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.2])
    reps, seed = 500, 3
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, scores.size, size=(reps, scores.size))
    by_hand = np.quantile(scores[idx].mean(axis=1), [0.025, 0.975])
    _, lower, upper = stats.bootstrap_ci(scores, stats.mean, reps=reps, seed=seed)
    assert (lower, upper) == pytest.approx(tuple(by_hand))


def test_bootstrap_ci_covers_the_truth_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    true_mean, covered, trials = 2.0, 0, 300
    for t in range(trials):
        sample = rng.normal(true_mean, 1.0, size=20)
        _, lower, upper = stats.bootstrap_ci(sample, stats.mean, reps=1000, seed=t)
        covered += lower <= true_mean <= upper
    # percentile bootstrap with n=20 under-covers slightly; it must be close to 95%, not 50%/100%
    assert 0.88 <= covered / trials <= 0.99


def test_stratified_bootstrap_keeps_each_task_apart():
    # Task 0 always scores 0, task 1 always 10: any stratified resample keeps 3 runs of each, so
    # the mean is exactly 5 every time (an unstratified bootstrap over all 6 values would vary).
    matrix = np.array([[0.0, 10.0], [0.0, 10.0], [0.0, 10.0]])
    assert stats.bootstrap_ci(matrix, stats.mean, reps=500) == (5.0, 5.0, 5.0)
    ragged = [np.zeros(2), np.full(5, 10.0)]  # tasks with different run counts
    point, lower, upper = stats.bootstrap_ci(ragged, stats.mean, reps=500)
    assert point == lower == upper == pytest.approx(50 / 7)


def test_bootstrap_with_one_run_collapses_to_the_point():
    assert stats.bootstrap_ci([0.7]) == (0.7, 0.7, 0.7)


def test_probability_of_improvement_identical_and_dominated():
    x = np.array([0.1, 0.5, 0.9])
    assert stats.probability_of_improvement(x, x) == pytest.approx(0.5)  # ties count 1/2
    assert stats.probability_of_improvement(x + 10, x) == 1.0
    assert stats.probability_of_improvement(x, x + 10) == 0.0
    # hand count: pairs (x_i > y_j) for x=[1,3], y=[2]: 1 of 2 -> 0.5; x=[1,3], y=[0,2]: 3 of 4
    assert stats.probability_of_improvement([1, 3], [0, 2]) == pytest.approx(0.75)
    p, lower, upper = stats.probability_of_improvement_ci(x + 10, x, reps=200)
    assert (p, lower, upper) == (1.0, 1.0, 1.0)
    p, lower, upper = stats.probability_of_improvement_ci(x, x, reps=500)
    assert p == 0.5 and lower < 0.5 < upper


def test_probability_of_improvement_ci_matches_exhaustive_resampling():
    # x = {0, 1} vs y = {0.5}: a resample of x is {0,0}, mixed or {1,1} with probability 1/4,
    # 1/2, 1/4, giving P = 0, 0.5, 1; the 95% percentile interval is therefore [0, 1].
    assert stats.probability_of_improvement_ci([0.0, 1.0], [0.5], reps=4000) == (0.5, 0.0, 1.0)


def test_probability_of_improvement_averages_tasks():
    x = np.array([[1.0, 0.0], [1.0, 0.0]])  # wins task 0, loses task 1
    y = np.array([[0.0, 1.0], [0.0, 1.0]])
    assert stats.probability_of_improvement(x, y) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="different numbers of tasks"):
        stats.probability_of_improvement(x, y[:, :1])


def test_normalized_auc():
    assert stats.normalized_auc([0, 10, 20], [0.5, 0.5, 0.5]) == pytest.approx(0.5)
    # a linear ramp 0 -> 1 averages 0.5; unsorted input is sorted first
    assert stats.normalized_auc([100, 0, 50], [1.0, 0.0, 0.5]) == pytest.approx(0.5)
    # trapezoids on uneven spacing: (0+1)/2*10 + (1+1)/2*30 = 35 over 40
    assert stats.normalized_auc([0, 10, 40], [0.0, 1.0, 1.0]) == pytest.approx(35 / 40)
    assert stats.normalized_auc([5], [0.3]) == pytest.approx(0.3)
    with pytest.raises(ValueError):
        stats.normalized_auc([0, 1], [1.0])


def test_steps_to_threshold():
    steps, values = [0, 1000, 2000, 3000], [0.0, 0.4, 0.85, 0.7]
    assert stats.steps_to_threshold(steps, values, 0.8) == 2000
    assert stats.steps_to_threshold(steps, values, 0.4) == 1000  # reaching counts (>=)
    assert stats.steps_to_threshold(steps, values, 0.9) is None
    assert stats.steps_to_threshold([3000, 0, 1000], [0.9, 0.0, 0.9], 0.9) == 1000
