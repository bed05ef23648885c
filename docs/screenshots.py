"""Regenerate the screenshots in docs/: report-<name>.png for every report, and board.png (the live board).

    python docs/screenshots.py [--config config/example.yaml] [--events examples/events.jsonl]
                               [--chromium /usr/bin/chromium] [--out docs]

Each report is built from the example config and events (`build_report`), rendered with `render_html`, written
to a temporary file and photographed by headless Chromium at 1280×2000. When the config has no `contracts`,
the credits report would be empty; the script then adds one demonstration contract (covering Globex, monthly,
a three-step sliding scale) so the picture shows what the report looks like, and says so on stderr.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connector.config import Config, load_config, parse_config  # noqa: E402
from connector.events import read_jsonl  # noqa: E402
from connector.reports.build import REPORTS, build_report  # noqa: E402
from connector.reports.render import render_html  # noqa: E402

DEMO_CONTRACT: dict[str, Any] = {
    "name": "globex-premier", "organizations": ["Globex"], "period": "month", "fee": 5000, "currency": "USD",
    "exclusions": [{"name": "customer_caused", "when": {"tags_any": ["customer_caused"]}}],
    "credits": [{"below": "99%", "credit": "5%"}, {"below": "95%", "credit": "10%"},
                {"below": "80%", "credit": "25%"}],
}
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars")


def _config(path: Path) -> Config:
    config = load_config(path)
    if config.contracts:
        return config
    print(f"{path} has no contracts: the credits picture uses the demonstration contract "
          f"{DEMO_CONTRACT['name']!r}", file=sys.stderr)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["contracts"] = [DEMO_CONTRACT]
    return parse_config(data, source=str(path))


def shoot(chromium: str, page: Path, png: Path, profile: Path) -> None:
    """Photograph one page at 1280×2000."""
    subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", "--window-size=1280,2000",
                    f"--screenshot={png}", page.as_uri()], check=True, timeout=120, capture_output=True)
    if not png.is_file() or png.stat().st_size == 0:
        raise SystemExit(f"chromium wrote no screenshot to {png}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "example.yaml")
    parser.add_argument("--events", type=Path, default=ROOT / "examples" / "events.jsonl")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    config = _config(args.config)
    with args.events.open(encoding="utf-8") as fh:
        events = read_jsonl(fh)
    with tempfile.TemporaryDirectory() as tmp:
        for name in REPORTS:
            page = Path(tmp) / f"report-{name}.html"
            page.write_text(render_html(build_report(name, config, events=events)), encoding="utf-8")
            png = args.out / f"report-{name}.png"
            shoot(args.chromium, page, png, Path(tmp) / "profile")
            print(f"wrote {png.relative_to(ROOT) if png.is_relative_to(ROOT) else png}")
        png = args.out / "board.png"
        shoot_board(args.chromium, config, events, png, Path(tmp))
        print(f"wrote {png.relative_to(ROOT) if png.is_relative_to(ROOT) else png}")


def shoot_board(chromium: str, config: Config, events: list, png: Path, tmp: Path) -> None:
    """Photograph the live board: the events applied by the worker into a store, served at their last instant."""
    import secrets
    import threading

    from connector.runtime.worker import TicketProcessor
    from connector.service import create_app
    from connector.service.server import make_server
    from connector.settings import Secret, Settings
    from connector.store import Store

    store = Store(f"sqlite:///{tmp / 'board.db'}")
    store.upgrade()
    now = max(e.occurred_at for e in events)
    processor = TicketProcessor(store, config, {}, clock=lambda: now)
    for e in sorted(events, key=lambda e: e.occurred_at):
        processor.apply_event(e)
    wall = secrets.token_urlsafe(24)
    settings = Settings(database_url=store.url, api_token=Secret(secrets.token_urlsafe(24)), board_token=Secret(wall))
    server = make_server(create_app(settings, store=store, config=config, clock=lambda: now), host="127.0.0.1",
                         port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        # virtual time lets the page's script fetch board.json and draw before the picture is taken
        subprocess.run([chromium, *FLAGS, f"--user-data-dir={tmp / 'board-profile'}", "--window-size=1280,1000",
                        "--virtual-time-budget=5000", f"--screenshot={png}",
                        f"http://127.0.0.1:{server.effective_port}/board?token={wall}"],
                       check=True, timeout=120, capture_output=True)
    finally:
        server.close()
        thread.join(timeout=10)
        store.dispose()
    if not png.is_file() or png.stat().st_size == 0:
        raise SystemExit(f"chromium wrote no screenshot to {png}")


if __name__ == "__main__":
    main()
