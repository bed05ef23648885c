"""FreshdeskClient against a fake Freshdesk over HTTP."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from adapters.freshdesk.client import CONNECT_TIMEOUT, FreshdeskClient
from connector.errors import Conflict, Permanent, Transient
from tests.fakes.freshdesk import API_KEY, FakeFreshdesk, fake_freshdesk_fixture, stamp  # noqa: F401

NOW = 1_772_460_000.0
API_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "freshdesk" / "api"


def recorded(name: str) -> dict[str, Any]:
    return json.loads((API_FIXTURES / name).read_text())


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class RecordingSession(requests.Session):
    """A real session that remembers the keyword arguments of every request."""

    def __init__(self) -> None:
        super().__init__()
        self.kwargs: list[dict[str, Any]] = []

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.kwargs.append(kwargs)
        return super().request(method, url, *args, **kwargs)


def make(fake: FakeFreshdesk, **kwargs: Any) -> FreshdeskClient:
    return FreshdeskClient(None, fake.api_key, base_url=fake.base_url, **kwargs)


def assert_clean(err: BaseException) -> None:
    text = str(err)
    assert API_KEY not in text and "127.0.0.1" not in text and "freshdesk.com" not in text


# -- construction ---------------------------------------------------------------------------------------------

def test_base_url_from_domain_and_override() -> None:
    assert FreshdeskClient("acme", API_KEY).base_url == "https://acme.freshdesk.com"
    assert FreshdeskClient("acme.freshdesk.com", API_KEY).base_url == "https://acme.freshdesk.com"
    client = FreshdeskClient("acme", API_KEY, base_url="http://proxy.local:8080/")
    assert client.base_url == "http://proxy.local:8080"
    assert client.api._api_prefix == "http://proxy.local:8080/api/v2/"


@pytest.mark.parametrize("kwargs", [
    {"domain": None}, {"domain": "support.acme.com"}, {"domain": "acme", "base_url": "ftp://x"},
    {"domain": "acme", "timeout": 0}, {"domain": "acme", "api_key": ""},
])
def test_bad_construction_is_a_value_error(kwargs: dict[str, Any]) -> None:
    args = {"api_key": API_KEY, **kwargs}
    with pytest.raises(ValueError) as info:
        FreshdeskClient(args.pop("domain"), args.pop("api_key"), **args)
    assert API_KEY not in str(info.value)


def test_repr_hides_the_key() -> None:
    assert API_KEY not in repr(FreshdeskClient("acme", API_KEY))


# -- reads ----------------------------------------------------------------------------------------------------

def test_get_ticket_uses_override_basic_auth_and_stats(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42, priority=3, first_responded_at=stamp(100))
    ticket = make(fake_freshdesk).get_ticket("42")
    assert ticket["id"] == 42 and ticket["priority"] == 3 and ticket["stats"]["first_responded_at"] == stamp(100)
    call = fake_freshdesk.calls[-1]
    assert (call.method, call.path, call.args) == ("GET", "/api/v2/tickets/42", {"include": "stats"})
    assert (call.user, call.password) == (API_KEY, "X")


def test_every_request_has_a_timeout_and_no_redirects(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42)
    fake_freshdesk.groups.append({"id": 1, "name": "Support"})
    spy = RecordingSession()
    client = make(fake_freshdesk, timeout=4.5, session=spy)
    client.get_ticket(42)
    client.update_ticket(42, {"priority": 2})
    client.add_private_note(42, "hello")
    client.list_groups()
    client.list_conversations(42)
    client.list_tickets_updated_since(datetime(2026, 1, 1, tzinfo=UTC))
    assert len(spy.kwargs) == 6
    for kwargs in spy.kwargs:
        assert kwargs["timeout"] == (CONNECT_TIMEOUT, 4.5) and kwargs["allow_redirects"] is False


def test_read_timeout_is_transient(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42)
    fake_freshdesk.delay_next(1.0)
    with pytest.raises(Transient) as info:
        make(fake_freshdesk, timeout=0.2).get_ticket(42)
    assert "timed out" in str(info.value) and info.value.retry_after is None
    assert_clean(info.value)


def test_connection_error_is_transient() -> None:
    client = FreshdeskClient(None, API_KEY, base_url="http://127.0.0.1:9", timeout=0.5)
    with pytest.raises(Transient) as info:
        client.get_ticket(1)
    assert_clean(info.value)


def test_list_conversations_follows_pages(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(7)
    fake_freshdesk.add_conversations(7, 250)
    got = make(fake_freshdesk).list_conversations(7)
    assert len(got) == 250 and got[1]["private"] is True
    pages = [c.args for c in fake_freshdesk.calls if c.path.endswith("/conversations")]
    assert [p["page"] for p in pages] == ["1", "2", "3"] and all(p["per_page"] == "100" for p in pages)


def test_list_conversations_of_exactly_one_full_page(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(7)
    fake_freshdesk.add_conversations(7, 100)
    assert len(make(fake_freshdesk).list_conversations(7)) == 100


def test_list_groups(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.groups.extend([{"id": 1, "name": "Support"}, {"id": 2, "name": "Escalations"}])
    assert [g["name"] for g in make(fake_freshdesk).list_groups()] == ["Support", "Escalations"]


def test_list_tickets_updated_since_sends_utc_z_once(fake_freshdesk: FakeFreshdesk) -> None:
    for i in (1, 2, 3):
        fake_freshdesk.add_ticket(i)
    since = datetime.fromisoformat(stamp(2)).astimezone(datetime.now().astimezone().tzinfo)
    got = make(fake_freshdesk).list_tickets_updated_since(since.isoformat(), page=1)
    assert [t["id"] for t in got.items] == [2, 3] and got.next_page is None
    assert all(t["stats"]["status_updated_at"] == stamp(0) for t in got.items)  # embedded: no read per ticket
    call = fake_freshdesk.calls[-1]
    assert call.path == "/api/v2/tickets"
    assert call.args == {"updated_since": stamp(2), "order_by": "updated_at", "order_type": "asc",
                         "include": "stats", "per_page": "100", "page": "1"}


def test_the_ticket_listing_names_its_next_page_from_the_link_header(fake_freshdesk: FakeFreshdesk) -> None:
    for i in range(1, 151):
        fake_freshdesk.add_ticket(i)
    client = make(fake_freshdesk)
    first = client.list_tickets_updated_since(datetime(2026, 1, 1, tzinfo=UTC))
    assert len(first.items) == 100 and first.next_page == 2
    second = client.list_tickets_updated_since(datetime(2026, 1, 1, tzinfo=UTC), page=2)
    assert len(second.items) == 50 and second.next_page is None


def test_lists_end_where_the_link_header_ends(fake_freshdesk: FakeFreshdesk) -> None:
    # exactly one full page: Freshdesk sends no link, so there is no second call for an empty page
    fake_freshdesk.add_ticket(7)
    fake_freshdesk.add_conversations(7, 100)
    assert len(make(fake_freshdesk).list_conversations(7)) == 100
    assert len([c for c in fake_freshdesk.calls if c.path.endswith("/conversations")]) == 1


def test_lists_go_on_while_the_link_header_says_so(fake_freshdesk: FakeFreshdesk) -> None:
    # a page shorter than asked is not the last one while a link names the next (per_page ignored: 30 a page)
    fake_freshdesk.page_cap = 30
    fake_freshdesk.add_ticket(7)
    fake_freshdesk.add_conversations(7, 70)
    got = make(fake_freshdesk).list_conversations(7)
    assert len(got) == 70 and len({c["id"] for c in got}) == 70
    assert [c.args["page"] for c in fake_freshdesk.calls if c.path.endswith("/conversations")] == ["1", "2", "3"]


def test_the_link_header_never_sends_the_key_elsewhere(fake_freshdesk: FakeFreshdesk) -> None:
    # the header decides which page comes next; the request goes to our own base URL, never to the named host
    fake_freshdesk.link_base = "http://127.0.0.1:9"
    fake_freshdesk.add_ticket(7)
    fake_freshdesk.add_conversations(7, 250)
    assert len(make(fake_freshdesk, timeout=1.0).list_conversations(7)) == 250
    assert [c.args["page"] for c in fake_freshdesk.calls] == ["1", "2", "3"]


@pytest.mark.parametrize("page", [0, 301, True])
def test_list_tickets_page_bounds(fake_freshdesk: FakeFreshdesk, page: Any) -> None:
    with pytest.raises(Permanent):
        make(fake_freshdesk).list_tickets_updated_since(datetime(2026, 1, 1, tzinfo=UTC), page=page)
    assert fake_freshdesk.calls == []


@pytest.mark.parametrize("bad", ["1/../../agents", "abc", "-1", "0", True])
def test_invalid_id_is_permanent_without_a_request(fake_freshdesk: FakeFreshdesk, bad: Any) -> None:
    with pytest.raises(Permanent):
        make(fake_freshdesk).get_ticket(bad)
    assert fake_freshdesk.calls == []


# -- writes ---------------------------------------------------------------------------------------------------

def test_update_ticket_puts_json(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(5, tags=["vip"])
    ticket = make(fake_freshdesk).update_ticket(5, {"priority": 4, "tags": ["vip", "x"]})
    assert ticket["priority"] == 4 and ticket["tags"] == ["vip", "x"]
    put = fake_freshdesk.calls[-1]
    assert (put.method, put.path, put.json) == ("PUT", "/api/v2/tickets/5", {"priority": 4, "tags": ["vip", "x"]})


def test_add_private_note(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(5)
    note = make(fake_freshdesk).add_private_note(5, "<p>due soon</p>")
    assert note["private"] is True
    assert fake_freshdesk.calls[-1].json == {"body": "<p>due soon</p>", "private": True}
    stored = fake_freshdesk.tickets[5]["conversations"][-1]
    assert (stored["body"], stored["body_text"]) == ("<div><p>due soon</p></div>", "due soon")


# -- errors ---------------------------------------------------------------------------------------------------

def test_429_is_transient_with_retry_after_and_holds_every_call(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42)
    clock = Clock()
    client = make(fake_freshdesk, clock=clock)
    fake_freshdesk.fail_next(429, {"message": "You have exceeded the limit of requests per minute"},
                             headers={"Retry-After": "37"})
    with pytest.raises(Transient) as info:
        client.get_ticket(42)
    assert info.value.retry_after == 37.0 and "429" in str(info.value)
    assert_clean(info.value)
    calls = len(fake_freshdesk.calls)
    clock.now += 10
    with pytest.raises(Transient) as held:
        client.update_ticket(42, {"priority": 2})
    assert held.value.retry_after == pytest.approx(27.0)
    assert len(fake_freshdesk.calls) == calls  # no request while held
    clock.now += 28
    assert client.get_ticket(42)["id"] == 42


def test_429_with_a_text_body_and_no_retry_after(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.fail_next(429, "Too Many Requests")
    with pytest.raises(Transient) as info:
        make(fake_freshdesk).get_ticket(42)
    assert info.value.retry_after is None


def test_proactive_limit_holds_until_the_window_resets(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42)
    clock = Clock()
    client = make(fake_freshdesk, clock=clock)
    fake_freshdesk.rate_limit(remaining=0)
    assert client.get_ticket(42)["id"] == 42  # this call succeeded; the next ones wait
    fake_freshdesk.rate_limit(remaining=150)
    calls = len(fake_freshdesk.calls)
    with pytest.raises(Transient) as info:
        client.list_groups()
    assert info.value.retry_after == pytest.approx(60.0)
    assert len(fake_freshdesk.calls) == calls
    clock.now += 61
    assert client.list_groups() == []


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_transient(fake_freshdesk: FakeFreshdesk, status: int) -> None:
    fake_freshdesk.fail_next(status, "<html>oops</html>")
    with pytest.raises(Transient) as info:
        make(fake_freshdesk).get_ticket(42)
    assert str(status) in str(info.value)
    assert_clean(info.value)


def test_409_is_an_inconsistent_state_not_a_concurrent_edit(fake_freshdesk: FakeFreshdesk) -> None:
    # Freshdesk: "409 Inconsistent/Conflicting State ... e.g. a Contact with an email that is already associated
    # with an existing user": the same request fails again, so it is permanent (dead-lettered), never re-fetched
    fake_freshdesk.add_ticket(42)
    fake_freshdesk.fail_next(409, {"description": "Validation failed", "errors": [
        {"field": "email", "message": "It should be a unique value: ann@example.com", "code": "duplicate_value"}]})
    with pytest.raises(Permanent) as info:
        make(fake_freshdesk).update_ticket(42, {"priority": 2})
    assert not isinstance(info.value, Conflict)
    assert str(info.value) == ("Freshdesk answered 409 Conflict for ticket 42 (inconsistent state: email "
                               "(duplicate_value)); the same request would fail again, so it is not retried")
    assert len(fake_freshdesk.calls) == 1
    assert_clean(info.value)


def test_400_names_fields_and_codes_never_values(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.add_ticket(42)
    with pytest.raises(Permanent) as info:
        make(fake_freshdesk).update_ticket(42, {"priority": 9, "group_id": 777, "due_by": "secret-value"})
    text = str(info.value)
    assert text == ("Freshdesk answered 400 Bad Request for ticket 42: rejected priority (invalid_value), "
                    "group_id (invalid_value), due_by (invalid_value)")
    assert "secret-value" not in text and "777" not in text
    assert_clean(info.value)


def test_400_field_names_are_sanitised(fake_freshdesk: FakeFreshdesk) -> None:
    fake_freshdesk.fail_next(400, {"errors": [{"field": "email a@b.example", "message": "x", "code": "bad code!"},
                                              {"field": "cf_due", "message": "x", "code": "<script>"}]})
    with pytest.raises(Permanent) as info:
        make(fake_freshdesk).update_ticket(42, {"priority": 2})
    assert str(info.value).endswith("rejected cf_due")


@pytest.mark.parametrize(("status", "words"), [(401, "refused the API key"), (403, "may not access"),
                                                (404, "not found"), (302, "redirects are not followed"),
                                                (422, "422")])
def test_other_statuses_are_permanent(fake_freshdesk: FakeFreshdesk, status: int, words: str) -> None:
    fake_freshdesk.fail_next(status, {"message": f"bad {API_KEY}"}, headers={"location": "http://evil.example/"})
    with pytest.raises(Permanent) as info:
        make(fake_freshdesk).get_ticket(42)
    assert words in str(info.value)
    assert_clean(info.value)


def test_unknown_ticket_is_permanent_404(fake_freshdesk: FakeFreshdesk) -> None:
    with pytest.raises(Permanent) as info:
        make(fake_freshdesk).get_ticket(404404)
    assert str(info.value) == "ticket 404404 not found in Freshdesk (404 Not Found)"


def test_wrong_key_is_permanent_and_clean(fake_freshdesk: FakeFreshdesk) -> None:
    client = FreshdeskClient(None, "wrong-key-123", base_url=fake_freshdesk.base_url)
    with pytest.raises(Permanent) as info:
        client.get_ticket(1)
    assert "401" in str(info.value) and "wrong-key-123" not in str(info.value)


# -- recorded shapes (tests/fixtures/freshdesk/api, each with its `_source`) ----------------------------------

@responses.activate(assert_all_requests_are_fired=True)
def test_the_recorded_listing_page_brings_stats_and_names_the_next_page() -> None:
    page = recorded("tickets_page_include_stats.json")
    responses.add(responses.GET, "https://acme.freshdesk.com/api/v2/tickets", json=page["body"],
                  headers=page["headers"], match=[matchers.query_param_matcher(page["request"]["query"])])
    got = FreshdeskClient("acme", API_KEY).list_tickets_updated_since("2026-03-01T00:00:00Z")
    assert [t["id"] for t in got.items] == [2051, 2052] and got.next_page == 2
    assert got.items[1]["stats"]["resolved_at"] == "2026-03-02T15:30:00Z"
    assert len(responses.calls) == 1


@responses.activate(assert_all_requests_are_fired=True)
def test_the_recorded_409_is_permanent_and_names_only_field_and_code() -> None:
    error = recorded("error_409_duplicate_value.json")
    responses.add(responses.PUT, "https://acme.freshdesk.com/api/v2/tickets/42", json=error["body"],
                  status=error["status"], headers=error["headers"])
    with pytest.raises(Permanent) as info:
        FreshdeskClient("acme", API_KEY).update_ticket(42, {"priority": 2})
    assert "409 Conflict" in str(info.value) and "email (duplicate_value)" in str(info.value)
    assert "unique value" not in str(info.value)  # Freshdesk's message text is never repeated
    assert len(responses.calls) == 1
