"""Write a copy of a built-in scenario with one thing changed, for the benchmarks that compare the two.

    python benchmarks/scenario_variant.py standard without-reaction OUT.json
    python benchmarks/scenario_variant.py segmented watching-lowest OUT.json
    python benchmarks/scenario_variant.py standard service-0.99 OUT.json   # every SKU's target raised to 0.99
"""

import json
import sys

from pricestream.simulator.scenario import BUILT_IN_DIR


def without_reaction(data: dict) -> None:
    """The competitors that answer our prices become plain random walks."""
    for sku in data["skus"]:
        for competitor in sku["competitors"]:
            if competitor["process"] == "reactive":
                competitor["process"] = "random-walk"


def watching_lowest(data: dict) -> None:
    """Competitors see a segmented SKU's lowest segment price instead of its watched segment's."""
    for sku in data["skus"]:
        sku.pop("watched_segment", None)


def service_at_least(target: float):
    """Every SKU's service target raised to at least ``target`` (a point further up the cost-fill curve)."""
    def change(data: dict) -> None:
        for sku in data["skus"]:
            inventory = sku.setdefault("inventory", {})
            inventory["service_level"] = max(inventory.get("service_level", 0.0), target)
    return change


CHANGES = {"without-reaction": without_reaction, "watching-lowest": watching_lowest}
SERVICE_PREFIX = "service-"      # service-0.99: a parameterised change


def change_named(name: str):
    if name in CHANGES:
        return CHANGES[name]
    if name.startswith(SERVICE_PREFIX):
        try:
            target = float(name[len(SERVICE_PREFIX):])
        except ValueError:
            return None
        return service_at_least(target) if 0 < target < 1 else None
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 3 or change_named(argv[1]) is None:
        print(f"usage: scenario_variant.py BUILT_IN {{{','.join(CHANGES)},{SERVICE_PREFIX}TARGET}} OUT.json",
              file=sys.stderr)
        return 2
    base, change, out = argv
    data = json.loads((BUILT_IN_DIR / f"{base}.json").read_text())
    change_named(change)(data)
    data["name"] = f"{base}-{change}"
    with open(out, "w") as f:
        json.dump(data, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
