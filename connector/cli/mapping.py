"""`connector mapping check`: try a mapped source's mapping (and signature) on a sample body, offline."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from connector import jsontext
from connector.cli.common import CONTEXT, _config
from connector.errors import AuthError, PayloadError
from connector.events import event_to_dict
from connector.settings import Settings
from connector.visible import json_visible, visible


@click.group(context_settings=CONTEXT)
def mapping() -> None:
    """Build a mapped source (any tool that sends webhooks) without a running server."""


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise click.ClickException(f"cannot read the {what} {path}: {err.strerror}") from None


@mapping.command("check", context_settings=CONTEXT)
@click.option("--config", "config_path", default=None, help="Config file (default: CONNECTOR_CONFIG).")
@click.option("--source", required=True, help="The mapped source's name (sources.<name>).")
@click.option("--sample", required=True, help="A body the tool sends (a file).")
@click.option("--headers", "headers_path", default=None,
              help="A JSON object of the request's headers: the signature is checked too, with the secret from "
                   "the source's variable.")
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="json", show_default=True)
def check(config_path: str | None, source: str, sample: str, headers_path: str | None, fmt: str) -> None:
    """Print the canonical events a sample body gives, or every problem the mapping has with it (exit 1)."""
    # imported here: the mapped adapter brings `requests` (80 ms), which no other offline command needs
    from adapters.base import InboundRequest, secret_list
    from adapters.mapped.inbound import MappedAdapter, check_body
    from adapters.mapped.source import mapped_sections

    cfg = _config(config_path)
    sections = mapped_sections(cfg)
    section = sections.get(source)
    if section is None:
        known = ", ".join(sorted(sections)) or "none"
        raise click.ClickException(f"no mapped source {source!r} in the config (its mapped sources: {known})")
    body = _read(sample, "sample")
    events, problems = check_body(source, section, body)
    notes: list[str] = []
    if headers_path is not None and section.auth is not None:
        try:
            headers = json.loads(_read(headers_path, "headers file"))
        except ValueError as err:
            raise click.ClickException(f"{headers_path}: not JSON ({err})") from None
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise click.ClickException(f"{headers_path}: expected a JSON object of header names and text values")
        variable = section.auth.secrets_env
        value = Settings.from_env().env_value(variable)
        if value is None:
            notes.append(f"signature not checked: {variable} is not set")
        else:
            request = InboundRequest(headers={str(k).lower(): v for k, v in headers.items()}, body=body,
                                     received_at=datetime.now(UTC))
            try:
                adapter = MappedAdapter(source, section, secret_list(value))
                adapter.verify(request)
                adapter.accept(request)
            except ValueError as err:
                problems.append(f"{variable}: {err}")
            except (AuthError, PayloadError) as err:
                if err.reason not in problems:
                    problems.append(("signature: " if isinstance(err, AuthError) else "") + err.reason)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    if problems:
        if fmt == "json":
            click.echo(json_visible(jsontext.dumps({"problems": problems}, indent=True)))
        for problem in problems:
            click.echo(visible(f"problem: {problem}"), err=True)
        sys.exit(1)
    if fmt == "json":  # the sample's text (a subject) may hold what a terminal obeys
        click.echo(json_visible(jsontext.dumps({"events": [event_to_dict(e) for e in events]}, indent=True)))
    else:
        for e in events:
            click.echo(f"{e.occurred_at.isoformat()} {e.type:<15} {e.source}/{e.account}/{e.ticket_id} "
                       f"status={e.ticket.status} priority={e.ticket.priority or '-'}"
                       + (f" comment by {e.comment.author_role}{'' if e.comment.public else ' (private)'}"
                          if e.comment else ""))


COMMANDS = (mapping,)
