"""Start-up of the offline commands: they load what they use, not what the service needs (issue 14)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = ("import sys, runpy\n"
         "sys.argv = ['connector', *sys.argv[1:]]\n"
         "try:\n    runpy.run_module('connector', run_name='__main__')\n"
         "except SystemExit:\n    pass\n"
         "print(sorted(m for m in ('requests', 'urllib3', 'flask', 'sqlalchemy', 'alembic') if m in sys.modules),"
         " file=sys.stderr)\n")


def test_replay_loads_neither_an_http_client_nor_a_database_layer(tmp_path):
    """`connector replay` (and the CLI it is part of) imports no HTTP client, web framework or database
    layer: `requests` alone was 80 ms of a start-up that every offline command pays (the mapped sources'
    `mapping check` imports its adapter when it runs)."""
    events = tmp_path / "one.jsonl"
    events.write_text((ROOT / "examples" / "events.jsonl").read_text().splitlines()[0] + "\n")
    done = subprocess.run([sys.executable, "-c", PROBE, "replay", "--config", str(ROOT / "config" / "example.yaml"),
                           "--events", str(events)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert json.loads(done.stdout)["tickets"], done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1] == "[]", done.stderr[-2000:]
