"""The report's information floor under the elasticity, and the cost of the prices that would reach it."""

import math
from types import SimpleNamespace as NS

import numpy as np
import pytest

from pricestream.domain.elasticity import ElasticityEstimator
from pricestream.simulator.report import IDENTIFIED_SD, elasticity_sd_floor, identify_cost_share


def books(prices, units_per_period, competitors=None, on_hand=None):
    n = len(prices)
    return NS(price_path=list(prices), demand_path=[units_per_period] * n,
              competitor_path=list(competitors) if competitors is not None else [None] * n,
              on_hand_path=list(on_hand) if on_hand is not None else [10] * n)


SPEC = NS(segments=(), list_price=10.0, purchase=NS(form="constant-elasticity", reference_price=10.0, elasticity=-2.0))


def test_two_prices_either_side_give_the_textbook_floor():
    # log prices +-d, half the time each: variance d^2, information units x d^2
    d, periods, rate = 0.1, 1000, 0.5
    prices = [10.0 * math.exp(d if t % 2 else -d) for t in range(periods)]
    floor = elasticity_sd_floor(SPEC, books(prices, rate))
    assert floor == pytest.approx(1.0 / (d * math.sqrt(periods * rate)), rel=1e-9)


def test_a_price_that_never_moves_has_no_floor_and_an_empty_shelf_teaches_nothing():
    assert elasticity_sd_floor(SPEC, books([10.0] * 100, 1.0)) is None
    moving = [10.0 * (1.1 if t % 2 else 0.9) for t in range(100)]
    # the periods at the high price all began on an empty shelf: what is left never moved
    assert elasticity_sd_floor(SPEC, books(moving, 1.0, on_hand=[0 if t % 2 else 5 for t in range(100)])) is None


def test_a_competitor_who_moves_with_our_price_leaves_the_elasticity_unlearned():
    prices = [10.0 * (1.1 if t % 2 else 0.9) for t in range(400)]
    apart = [9.5 if t % 3 else 10.5 for t in range(400)]
    along = [0.95 * p for p in prices]
    free, mostly_along = (elasticity_sd_floor(SPEC, books(prices, 10.0, c)) for c in (apart, along[:-1] + [9.0]))
    assert free < 0.2 and mostly_along > 10 * free


def test_the_engines_estimator_comes_near_the_floor_once_the_data_outweigh_its_prior():
    rng = np.random.default_rng(3)
    est = ElasticityEstimator.new(reference_price=10.0, prior_elasticity=-2.0)
    prices = [10.0 * math.exp(0.15 if t % 2 else -0.15) for t in range(3000)]
    for p in prices:
        q = 0.05 * (p / 10.0) ** -2.5
        est.learn(20, int(rng.poisson(20 * q)), p, None)
    rates = [20 * 0.05 * (p / 10.0) ** -2.5 for p in prices]
    b = NS(price_path=prices, demand_path=rates, competitor_path=[None] * len(prices), on_hand_path=[5] * len(prices))
    floor = elasticity_sd_floor(SPEC, b)
    # its spread is no narrower than the data allow, and its estimate is inside it
    assert 0.9 * floor <= est.elasticity_sd <= 1.6 * floor
    assert abs(est.elasticity - -2.5) <= 3 * floor


def test_the_cost_of_identifying_falls_with_the_units_sold_and_rises_with_the_elasticity():
    few, many = (identify_cost_share(SPEC, NS(demand_path=[1.0] * n)) for n in (300, 3000))
    assert 0 < many < few
    elastic = NS(segments=(), purchase=NS(form="constant-elasticity", elasticity=-4.0))
    assert identify_cost_share(elastic, NS(demand_path=[1.0] * 3000)) > many
    # small variation: the profit's curvature at the optimum, |e (1 + e)| / 2 x d^2
    d2 = 1.0 / (IDENTIFIED_SD ** 2 * 1e6)
    assert identify_cost_share(SPEC, NS(demand_path=[1.0] * 1_000_000)) == pytest.approx(d2, rel=1e-2)
    linear = NS(segments=(), purchase=NS(form="linear"))
    assert identify_cost_share(linear, NS(demand_path=[1.0] * 100)) is None
