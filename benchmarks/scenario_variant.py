"""Write a copy of a built-in scenario with one thing changed, for the benchmarks that compare the two.

    python benchmarks/scenario_variant.py standard without-reaction OUT.json
    python benchmarks/scenario_variant.py segmented watching-lowest OUT.json
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


CHANGES = {"without-reaction": without_reaction, "watching-lowest": watching_lowest}


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in CHANGES:
        print(f"usage: scenario_variant.py BUILT_IN {{{','.join(CHANGES)}}} OUT.json", file=sys.stderr)
        return 2
    base, change, out = argv
    data = json.loads((BUILT_IN_DIR / f"{base}.json").read_text())
    CHANGES[change](data)
    data["name"] = f"{base}-{change}"
    with open(out, "w") as f:
        json.dump(data, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
