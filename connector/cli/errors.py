"""One way for every command to fail: a message on stderr and exit code 1, never a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from connector.errors import ConnectorError, StoreUnavailable


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn the connector's errors, an unreachable database or a busy port into `Error: …` and exit 1."""
    try:
        yield
    except StoreUnavailable as err:
        raise click.ClickException(f"cannot use the database: {err} (check CONNECTOR_DATABASE_URL; each wait is "
                                   "bounded by CONNECTOR_DB_TIMEOUT_SECONDS)") from None
    except ConnectorError as err:
        raise click.ClickException(str(err)) from None
    except Exception as err:
        from sqlalchemy.exc import SQLAlchemyError

        if isinstance(err, SQLAlchemyError | OSError):
            first = (str(err).splitlines() or [""])[0][:300]
            raise click.ClickException(f"{type(err).__name__}: {first}") from None
        raise
