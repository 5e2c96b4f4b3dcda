import math

import numpy as np
import pytest

from pricestream.domain.replenishment import (
    discrete_demand_pmf,
    eoq,
    expected_shortage_discrete,
    expected_shortage_normal,
    fill_rate_discrete,
    lead_time_demand,
    negbin_cdf,
    negbin_pmf,
    negbin_quantile,
    newsvendor_normal,
    normal_loss,
    poisson_cdf,
    poisson_pmf,
    poisson_quantile,
    r_q_eil,
    safety_stock_and_reorder_point,
)

# ---- textbook figures (Snyder & Shen, Fundamentals of Supply Chain Theory, 2nd ed.)


def test_eoq_reproduces_example_3_1():
    q, cost = eoq(order_cost=8, holding_cost=0.225, demand_rate=1300)
    assert q == pytest.approx(304.0467800, rel=1e-6)
    assert cost == pytest.approx(68.4105255, rel=1e-6)


def test_newsvendor_reproduces_example_4_3():
    assert newsvendor_normal(0.18, 0.70, 50, 8) == pytest.approx(56.6039559, rel=1e-6)


def test_r_q_eil_reproduces_example_5_2():
    policy = r_q_eil(
        holding_cost=0.225,
        backorder_cost=7.5,
        order_cost=8,
        annual_demand_mean=1300,
        lead_time_demand_mean=1300 / 12,
        lead_time_demand_sd=150 * math.sqrt(1 / 12),
    )
    assert policy.reorder_point == pytest.approx(213.9704421, rel=1e-6)
    assert policy.order_quantity == pytest.approx(318.5901811, rel=1e-6)


def test_r_q_eil_is_a_fixed_point_of_its_two_equations():
    h, p, k, lam, mu, sd = 0.5, 4.0, 20, 900, 75.0, 12.0
    policy = r_q_eil(h, p, k, lam, mu, sd, tol=1e-10)
    r, q = policy.reorder_point, policy.order_quantity
    assert q == pytest.approx(math.sqrt(2 * lam * (k + p * expected_shortage_normal(mu, sd, r)) / h), rel=1e-9)
    assert math.erfc((r - mu) / sd / math.sqrt(2)) / 2 == pytest.approx(q * h / (p * lam), rel=1e-9)


def test_r_q_eil_refuses_when_holding_a_cycle_outweighs_backordering():
    with pytest.raises(ValueError):
        r_q_eil(holding_cost=10, backorder_cost=0.01, order_cost=8, annual_demand_mean=100,
                lead_time_demand_mean=10, lead_time_demand_sd=3)


# ---- normal loss


def test_normal_loss_at_zero_is_one_over_root_two_pi():
    assert normal_loss(0.0) == pytest.approx(1 / math.sqrt(2 * math.pi), rel=1e-12)


@pytest.mark.parametrize("z", [-3.0, -1.2, 0.0, 0.7, 2.5])
def test_normal_loss_matches_its_integral_and_the_identity_l_minus_z(z):
    grid = np.linspace(z, z + 40, 400_001)
    density = np.exp(-grid**2 / 2) / math.sqrt(2 * math.pi)
    integrand = (grid - z) * density
    integral = float(np.sum((integrand[1:] + integrand[:-1]) / 2 * np.diff(grid)))
    assert normal_loss(z) == pytest.approx(integral, rel=1e-7)
    assert normal_loss(-z) - normal_loss(z) == pytest.approx(z, abs=1e-12)   # L(-z) = L(z) + z


def test_expected_shortage_normal_scales_the_standard_loss():
    assert expected_shortage_normal(100, 20, 120) == pytest.approx(20 * normal_loss(1.0))
    assert expected_shortage_normal(100, 0, 90) == 10.0
    assert expected_shortage_normal(100, 0, 110) == 0.0


# ---- discrete distributions


def brute_force_poisson_cdf(k, mean):
    return sum(math.exp(-mean) * mean**j / math.factorial(j) for j in range(k + 1))


@pytest.mark.parametrize("mean", [0.05, 0.4, 1.0, 3.7, 12.0, 40.0])
def test_poisson_quantile_is_the_smallest_k_reaching_the_probability(mean):
    for prob in [0.01, 0.25, 0.5, 0.8, 0.9, 0.95, 0.99, 0.999]:
        k = poisson_quantile(mean, prob)
        assert brute_force_poisson_cdf(k, mean) >= prob
        assert k == 0 or brute_force_poisson_cdf(k - 1, mean) < prob


@pytest.mark.parametrize("mean", [0.3, 2.0, 15.0])
def test_poisson_cdf_and_pmf_match_the_closed_form(mean):
    for k in range(0, 30):
        assert poisson_cdf(k, mean) == pytest.approx(brute_force_poisson_cdf(k, mean), rel=1e-12)
    assert poisson_cdf(-1, mean) == 0.0
    pmf = poisson_pmf(mean, 5)
    assert pmf[5] == pytest.approx(math.exp(-mean) * mean**5 / 120, rel=1e-12)


def test_poisson_pmf_does_not_underflow_for_large_means():
    pmf = poisson_pmf(1000.0, 2000)
    assert pmf.sum() == pytest.approx(1.0, rel=1e-9)


def test_poisson_with_zero_mean_is_all_at_zero():
    assert poisson_quantile(0.0, 0.99) == 0
    assert poisson_cdf(0, 0.0) == 1.0


@pytest.mark.parametrize("mean,var", [(0.5, 0.9), (2.0, 6.0), (1.0, 100.0), (7.5, 20.0), (30.0, 31.0)])
def test_negative_binomial_pmf_has_the_requested_mean_and_variance(mean, var):
    pmf = discrete_demand_pmf(mean, var)
    k = np.arange(len(pmf))
    assert math.fsum(pmf) == pytest.approx(1.0, abs=1e-9)
    assert math.fsum(k * pmf) == pytest.approx(mean, abs=1e-6)
    assert math.fsum((k - mean) ** 2 * pmf) == pytest.approx(var, rel=1e-6)


def test_negative_binomial_with_unit_shape_is_geometric():
    # mean 2, var 6: n = 1, p = 1/3, so P(D = k) = (1/3)(2/3)^k
    pmf = negbin_pmf(2.0, 6.0, 10)
    assert pmf == pytest.approx([(1 / 3) * (2 / 3) ** k for k in range(11)], rel=1e-12)
    assert negbin_cdf(4, 2.0, 6.0) == pytest.approx(1 - (2 / 3) ** 5, rel=1e-12)


def test_negative_binomial_quantile_agrees_with_its_cdf():
    mean, var = 3.0, 12.0
    for prob in [0.1, 0.5, 0.9, 0.99]:
        k = negbin_quantile(mean, var, prob)
        assert negbin_cdf(k, mean, var) >= prob
        assert k == 0 or negbin_cdf(k - 1, mean, var) < prob


def test_negative_binomial_falls_back_to_poisson_when_not_overdispersed():
    assert negbin_pmf(3.0, 3.0, 8) == pytest.approx(poisson_pmf(3.0, 8))
    assert negbin_pmf(3.0, 2.0, 8) == pytest.approx(poisson_pmf(3.0, 8))
    assert negbin_quantile(3.0, 2.5, 0.9) == poisson_quantile(3.0, 0.9)


def test_expected_shortage_discrete_against_direct_sum_and_its_limits():
    mean = 4.0
    pmf = discrete_demand_pmf(mean, mean)
    assert expected_shortage_discrete(pmf, 0) == pytest.approx(mean, abs=1e-9)      # E[D]
    direct = sum((k - 6) * math.exp(-mean) * mean**k / math.factorial(k) for k in range(7, 80))
    assert expected_shortage_discrete(pmf, 6) == pytest.approx(direct, rel=1e-9)
    shortages = [expected_shortage_discrete(pmf, r) for r in range(15)]
    assert all(a > b for a, b in zip(shortages, shortages[1:]))


def test_fill_rate_discrete_is_one_minus_shortage_over_q():
    pmf = discrete_demand_pmf(2.0, 5.0)
    assert fill_rate_discrete(pmf, 3, 10) == pytest.approx(1 - expected_shortage_discrete(pmf, 3) / 10)
    with pytest.raises(ValueError):
        fill_rate_discrete(pmf, 3, 0)


# ---- lead-time demand and reorder points


def test_lead_time_demand_with_random_lead_time():
    assert lead_time_demand(10, 4, 5, 2) == (50.0, 5 * 4 + 100 * 4)
    assert lead_time_demand(3, 3, 7) == (21.0, 21.0)           # fixed lead time, Poisson days


def test_cycle_service_normal_is_mean_plus_z_sigma():
    plan = safety_stock_and_reorder_point(100, 400, 0.95)
    assert plan.distribution == "normal"
    assert plan.reorder_point == pytest.approx(100 + 20 * 1.6448536269514722, rel=1e-12)
    assert plan.safety_stock == pytest.approx(plan.reorder_point - 100)


def test_discrete_choice_follows_mean_and_variance():
    assert safety_stock_and_reorder_point(2.0, 2.0, 0.9).distribution == "normal"
    assert safety_stock_and_reorder_point(2.0, 2.0, 0.9, discrete=True).distribution == "poisson"
    assert safety_stock_and_reorder_point(2.0, 1.5, 0.9, discrete=True).distribution == "poisson"
    assert safety_stock_and_reorder_point(2.0, 6.0, 0.9, discrete=True).distribution == "negative-binomial"


def test_discrete_cycle_service_uses_the_matching_quantile():
    poisson_plan = safety_stock_and_reorder_point(2.0, 2.0, 0.95, discrete=True)
    assert poisson_plan.reorder_point == poisson_quantile(2.0, 0.95) == 5
    assert poisson_plan.safety_stock == 3.0
    negbin_plan = safety_stock_and_reorder_point(2.0, 6.0, 0.95, discrete=True)
    assert negbin_plan.reorder_point == negbin_quantile(2.0, 6.0, 0.95)
    assert negbin_plan.reorder_point > poisson_plan.reorder_point   # overdispersion needs more cover


@pytest.mark.parametrize("discrete,mean,var", [(False, 50.0, 100.0), (True, 3.0, 3.0), (True, 3.0, 9.0)])
def test_fill_rate_reorder_point_increases_with_beta_and_meets_the_target(discrete, mean, var):
    q = 10.0
    betas = [0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999]
    points = [
        safety_stock_and_reorder_point(mean, var, b, kind="fill-rate", order_quantity=q, discrete=discrete).reorder_point
        for b in betas
    ]
    assert all(a <= b for a, b in zip(points, points[1:]))
    assert points[-1] > points[0]
    for beta, r in zip(betas, points):
        if discrete:
            pmf = discrete_demand_pmf(mean, var)
            assert fill_rate_discrete(pmf, r, q) >= beta - 1e-12
            assert fill_rate_discrete(pmf, r - 1, q) < beta               # and it is the smallest
        else:
            # continuous: the shortage target is met with equality
            assert expected_shortage_normal(mean, math.sqrt(var), r) == pytest.approx((1 - beta) * q, rel=1e-8)


def test_fill_rate_reorder_point_may_go_negative_when_a_cycle_may_short_more_than_mean_demand():
    # mean lead-time demand 0.5, Q = 40, beta = 0.95: 2 units may short per cycle, so r = ceil(0.5 - 2) = -1
    plan = safety_stock_and_reorder_point(0.5, 0.5, 0.95, kind="fill-rate", order_quantity=40, discrete=True)
    assert plan.reorder_point == -1
    assert expected_shortage_discrete(discrete_demand_pmf(0.5, 0.5), 0) - plan.reorder_point <= 2 + 1e-12


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(service_level=1.0),
        dict(service_level=0.0),
        dict(service_level=0.9, kind="fill-rate"),                     # no order quantity
        dict(service_level=0.9, kind="type-3"),
    ],
)
def test_bad_service_requests_are_refused(kwargs):
    with pytest.raises(ValueError):
        safety_stock_and_reorder_point(10.0, 10.0, **kwargs)
