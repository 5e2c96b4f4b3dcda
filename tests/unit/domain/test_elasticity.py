import json

import numpy as np

from pricestream.domain.elasticity import ElasticityEstimator


def simulate(est, periods, price_of, elasticity=-2.5, cross=0.8, views=30, conversion=0.04, seed=0, competitor=12.0):
    rng = np.random.default_rng(seed)
    for t in range(periods):
        p = price_of(t)
        c = competitor * (1 + 0.1 * np.sin(t / 17))
        mean = views * conversion * (p / 10.0) ** elasticity * (c / 10.0) ** cross
        est.learn(views, int(rng.poisson(mean)), p, c)
    return est


def test_a_price_that_moves_identifies_the_elasticity_and_the_cross_elasticity():
    est = simulate(ElasticityEstimator.new(10.0), 4000, lambda t: 10.0 * (0.85 + 0.3 * ((t * 7919) % 13) / 12))
    assert abs(est.elasticity - -2.5) < 0.3 and est.elasticity_sd < 0.3
    assert abs(est.mean[2] - 0.8) < 0.4


def test_a_price_that_never_moves_keeps_the_prior_and_says_it_does_not_know():
    est = simulate(ElasticityEstimator.new(10.0, prior_elasticity=-1.5), 3000, lambda t: 10.0)
    assert abs(est.elasticity - -1.5) < 0.3          # no evidence against the pooled prior
    assert est.elasticity_sd > 0.5                     # and an honest, wide spread
    assert est.price_std_log() == 0.0


def test_periods_without_views_change_nothing_but_the_memory():
    est = ElasticityEstimator.new(10.0)
    before = list(est.mean)
    for _ in range(50):
        est.learn(0, 0, 11.0, None)
    assert est.mean == __import__("pytest").approx(before)


def test_state_round_trips_through_json():
    est = simulate(ElasticityEstimator.new(10.0), 200, lambda t: 9.0 + t % 3)
    again = ElasticityEstimator.from_state(json.loads(json.dumps(est.to_state())))
    assert again.elasticity == est.elasticity and again.conversion(9.5, 11.0) == est.conversion(9.5, 11.0)
