"""Hypothesis strategies shared by the domain's property tests."""

from hypothesis import strategies as st

from schemas.examples import catalog_entry

prices = st.floats(min_value=0.01, max_value=10_000, allow_nan=False, allow_infinity=False)


@st.composite
def catalogs(draw):
    cost = draw(prices)
    lo = draw(prices)
    hi = lo + draw(st.floats(min_value=0, max_value=5_000))
    entry = catalog_entry(
        unit_cost=cost, min_price=lo, max_price=hi, list_price=lo,
        min_margin=draw(st.floats(min_value=-0.5, max_value=2)),
        map_price=draw(st.none() | prices),
        max_step_pct=draw(st.floats(min_value=0.001, max_value=2)),
        price_points=draw(st.none() | st.lists(prices, min_size=1, max_size=8, unique=True)),
        max_above_competitor_pct=draw(st.none() | st.floats(min_value=0, max_value=10)),
        match_out_of_stock_competitor=draw(st.booleans()),
        restock_enabled=draw(st.booleans()),
        sell_until_ms=draw(st.none() | st.integers(min_value=0, max_value=10 * 86_400_000)),
    )
    return entry
