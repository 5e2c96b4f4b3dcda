"""What the worker has done since it started: shown on /status/ and logged periodically."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class WorkerCounters:
    consumed: Counter = field(default_factory=Counter)        # by input topic
    emitted: Counter = field(default_factory=Counter)         # by output topic
    dead_letters: Counter = field(default_factory=Counter)    # by error code
    duplicates_ignored: int = 0
    skus_closed: int = 0                                      # SKU decisions taken at ticks
    replays_skipped: int = 0                                  # messages Faust delivered again, already applied
    last_dead_letter: dict | None = None

    def count_dead_letter(self, letter) -> None:
        self.dead_letters[letter.error_code] += 1
        self.last_dead_letter = {"error_code": letter.error_code, "error": letter.error,
                                 "source_topic": letter.source_topic}

    def snapshot(self) -> dict:
        return {
            "consumed": dict(self.consumed), "consumed_total": sum(self.consumed.values()),
            "emitted": dict(self.emitted),
            "dead_letters": dict(self.dead_letters), "dead_letters_total": sum(self.dead_letters.values()),
            "duplicates_ignored": self.duplicates_ignored, "skus_closed": self.skus_closed,
            "replays_skipped": self.replays_skipped,
            "last_dead_letter": self.last_dead_letter,
        }

    def log_line(self) -> str:
        s = self.snapshot()
        return (f"consumed={s['consumed_total']} price_changes={s['emitted'].get('price-changes', 0)} "
                f"restock_orders={s['emitted'].get('restock-orders', 0)} dead_letters={s['dead_letters_total']} "
                f"duplicates_ignored={s['duplicates_ignored']} ticks={s['consumed'].get('clock', 0)}")
