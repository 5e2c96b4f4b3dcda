"""The README says what the code does: its tables are the code's, its two commands are CI's."""

import re
from pathlib import Path

from pricestream.settings import settings_markdown_table
from schemas.codec import ERROR_CODES
from schemas.topics import topics_markdown_table

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def section(name: str) -> str:
    match = re.search(rf"<!-- {name}:start -->\n(.*?)\n<!-- {name}:end -->", README, re.S)
    assert match, f"README has no {name} section"
    return match.group(1)


def test_the_configuration_table_is_the_settings_module():
    assert section("settings") == settings_markdown_table()


def test_the_topic_table_is_the_topic_list():
    assert section("topics") == topics_markdown_table()


def test_every_dead_letter_code_is_documented():
    for code in ERROR_CODES:
        assert f"| `{code}` |" in README, code


def test_ci_runs_the_readme_test_command():
    assert "make test " in README and "make demo " in README
    assert "make test" in (ROOT / ".ci" / "run").read_text()
