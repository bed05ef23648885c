"""What every HTTP caller of the adapters shares: transport errors sorted as the outbox needs them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import requests

from connector.errors import Permanent, Transient


@contextmanager
def transport_errors(who: str, what: str = "") -> Iterator[None]:
    """Turn a `requests` transport error into the outbox's taxonomy: a timeout or a lost connection is
    `Transient` (tried again later), any other request error `Permanent`. Messages name `who` and `what`,
    and the error's type; never the URL, a header or a body."""
    on, for_ = (f" on {what}", f" for {what}") if what else ("", "")
    try:
        yield
    except requests.Timeout as err:
        raise Transient(f"{who} timed out{on} ({type(err).__name__})") from err
    except requests.ConnectionError as err:
        raise Transient(f"could not reach {who}{for_} ({type(err).__name__})") from err
    except requests.RequestException as err:
        raise Permanent(f"{who} request{for_} could not be made ({type(err).__name__})") from err
