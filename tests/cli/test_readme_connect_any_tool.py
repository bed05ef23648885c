"""The README's "Connect any tool" example works as written: its config loads and `connector mapping check`
turns a body of that shape into canonical events."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from click.testing import CliRunner

from connector.cli import main

ROOT = Path(__file__).resolve().parents[2]


def readme_example() -> dict:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Connect any tool", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None
    return yaml.safe_load(block.group(1))


def test_the_readme_example_maps_a_body(tmp_path):
    data = yaml.safe_load((ROOT / "config" / "example.yaml").read_text())
    data["sources"].update(readme_example()["sources"])
    config = tmp_path / "connector.yaml"
    config.write_text(yaml.safe_dump(data))
    body = {"event": "reply_added", "sent_at": 1772461800, "ticket": {"id": 77, "state": "open",
                                                                    "priority": "high", "labels": ["billing"]},
            "reply": {"by": "staff", "public": True}}
    sample = tmp_path / "body.json"
    sample.write_text(json.dumps(body))
    result = CliRunner().invoke(main, ["mapping", "check", "--config", str(config), "--source", "helpdesk",
                                       "--sample", str(sample)])
    assert result.exit_code == 0, result.output
    [event] = json.loads(result.stdout)["events"]
    assert (event["type"], event["ticket_id"], event["occurred_at"]) == ("comment.added", "77",
                                                                         "2026-03-02T14:30:00Z")
    assert event["ticket"]["tags"] == ["billing"] and event["comment"]["author_role"] == "agent"
