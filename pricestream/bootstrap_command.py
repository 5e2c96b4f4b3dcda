"""``pricestream bootstrap``: fit the SKUs' priors from an orders CSV, print them, publish them on ``model-priors``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pricestream.bootstrap import Bootstrap, BootstrapError, bootstrap
from pricestream.kafka_clients import publish as publish_messages
from pricestream.settings import Settings
from schemas.codec import encode, to_dict
from schemas.records import ModelPrior

TABLE_ROWS = 40         # SKUs listed in the printed summary; --out has them all


def run_bootstrap(args, settings: Settings) -> int:
    try:
        result = bootstrap(args.orders, period_minutes=args.period_minutes)
    except (BootstrapError, OSError) as exc:
        print(f"pricestream bootstrap: {exc}", file=sys.stderr)
        return 2
    priors = result.priors()
    print(summary_table(result))
    if args.out:
        Path(args.out).write_text(json.dumps({"summary": result.summary(), "priors": [to_dict(p) for p in priors]},
                                             indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    if args.dry_run:
        print("dry run: nothing published")
        return 0
    from kafka.errors import KafkaError

    try:
        published = publish(settings, priors)
    except KafkaError as exc:
        print(f"pricestream bootstrap: cannot publish to {settings.bootstrap_servers}: {exc}", file=sys.stderr)
        return 1
    print(f"published {published} priors to {settings.topic(ModelPrior.TOPIC)} on {settings.bootstrap_servers}")
    return 0


def summary_table(result: Bootstrap, rows: int = TABLE_ROWS) -> str:
    lines = [f"{'sku':<24} {'orders':>8} {'units':>8} {'periods':>8} {'ref price':>10} {'elasticity':>10} "
             f"{'sd':>5} {'from':<6} {'units/period':>12} {'peak hour':>9}"]
    for f in result.fits[:rows]:
        peak = "-" if f.daily_profile is None else str(max(range(24), key=f.daily_profile.__getitem__))
        lines.append(f"{f.sku:<24} {f.orders:>8,} {f.units:>8,} {f.periods:>8,} {f.reference_price:>10.2f} "
                     f"{f.elasticity:>10.2f} {f.elasticity_sd:>5.2f} {'pool' if f.pooled else 'own':<6} "
                     f"{f.units_per_period:>12.3f} {peak:>9}")
    if len(result.fits) > rows:
        lines.append(f"... and {len(result.fits) - rows:,} more SKUs")
    s = result.summary()
    skipped = ", ".join(f"{n:,} {reason}" for reason, n in sorted(s["skipped_by_reason"].items()))
    lines.append(f"{s['skus']:,} SKUs: {s['skus_fitted']:,} with their own elasticity, {s['skus_pooled']:,} with the "
                 f"pool's ({s['pooled_elasticity']:.2f} +- {s['pooled_elasticity_sd']:.2f})")
    lines.append(f"{s['rows']:,} rows: {s['rows_used']:,} used, {s['rows_skipped']:,} skipped"
                 + (f" ({skipped})" if skipped else ""))
    return "\n".join(lines)


def publish(settings: Settings, priors: list[ModelPrior], timeout_s: float = 30) -> int:
    """Write the priors, keyed by SKU, to the deployment's ``model-priors`` topic (created if missing)."""
    return publish_messages(settings, ModelPrior.TOPIC, [(p.sku.encode(), encode(p), None) for p in priors], timeout_s)
