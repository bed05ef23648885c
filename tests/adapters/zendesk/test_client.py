"""ZendeskClient against a fake Zendesk over HTTP (and `responses` for transport failures)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import responses

from adapters.zendesk.client import CONNECT_TIMEOUT, ZendeskClient
from connector.errors import Conflict, Permanent, Transient
from tests.fakes.zendesk import EMAIL, TOKEN, FakeZendesk, fake_zendesk_fixture  # noqa: F401

NOW = 1_772_460_000.0


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


def make(fake: FakeZendesk, **kwargs: Any) -> ZendeskClient:
    return ZendeskClient(None, fake.email, fake.token, base_url=fake.base_url, **kwargs)


def assert_clean(err: BaseException) -> None:
    text = str(err)
    assert TOKEN not in text and EMAIL not in text and "agent@" not in text
    assert "127.0.0.1" not in text


# -- construction ---------------------------------------------------------------------------------------------

def test_base_url_from_subdomain_and_override() -> None:
    assert ZendeskClient("acme", EMAIL, TOKEN).base_url == "https://acme.zendesk.com"
    assert ZendeskClient("acme", EMAIL, TOKEN, base_url="http://proxy.local:8080/").base_url == \
        "http://proxy.local:8080"


@pytest.mark.parametrize("kwargs", [
    {"subdomain": None}, {"subdomain": "acme.evil.com"}, {"subdomain": "acme", "base_url": "ftp://x"},
    {"subdomain": "acme", "timeout": 0}, {"subdomain": "acme", "email": ""}, {"subdomain": "acme", "api_token": ""},
])
def test_bad_construction_is_a_value_error(kwargs: dict[str, Any]) -> None:
    args = {"email": EMAIL, "api_token": TOKEN, **kwargs}
    with pytest.raises(ValueError) as info:
        ZendeskClient(args.pop("subdomain"), args.pop("email"), args.pop("api_token"), **args)
    assert TOKEN not in str(info.value)


def test_repr_hides_credentials() -> None:
    text = repr(ZendeskClient("acme", EMAIL, TOKEN))
    assert TOKEN not in text and EMAIL not in text


# -- reads ----------------------------------------------------------------------------------------------------

def test_get_ticket_uses_override_and_token_auth(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.add_ticket(42, priority="high")
    ticket = make(fake_zendesk).get_ticket(42)
    assert ticket["id"] == 42 and ticket["priority"] == "high" and ticket["updated_at"].endswith("Z")
    call = fake_zendesk.calls[-1]
    assert (call.method, call.path, call.user) == ("GET", "/api/v2/tickets/42.json", f"{EMAIL}/token")


def test_list_comments_follows_cursor_pages(fake_zendesk: FakeZendesk) -> None:
    comments = [{"id": i, "body": f"c{i}", "public": True, "author_id": 1} for i in range(250)]
    fake_zendesk.add_ticket(7, comments=comments)
    got = make(fake_zendesk).list_comments(7)
    assert [c["id"] for c in got] == list(range(250))
    pages = [c for c in fake_zendesk.calls if c.path.endswith("comments.json")]
    assert len(pages) == 3
    assert pages[0].args == {"page[size]": "100"} and pages[1].args["page[after]"] == "100"


def test_get_user_role(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.users[501] = {"id": 501, "name": "Ann", "role": "end-user"}
    assert make(fake_zendesk).get_user_role(501) == "end-user"


def test_list_groups(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.groups.extend([{"id": 1, "name": "Support"}, {"id": 2, "name": "Escalations"}])
    assert [g["name"] for g in make(fake_zendesk).list_groups()] == ["Support", "Escalations"]


def test_invalid_id_is_permanent_without_a_request(fake_zendesk: FakeZendesk) -> None:
    with pytest.raises(Permanent):
        make(fake_zendesk).get_ticket("1/../../users")
    assert fake_zendesk.calls == []


# -- writes ---------------------------------------------------------------------------------------------------

def test_add_tags_keeps_existing_and_remove_tags_removes_only_those(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.add_ticket(5, tags=["vip", "billing"])
    client = make(fake_zendesk)
    assert client.add_tags(5, ["sla_warning", "vip"]) == ["vip", "billing", "sla_warning"]
    put = fake_zendesk.calls[-1]
    assert (put.method, put.path, put.json) == ("PUT", "/api/v2/tickets/5/tags.json", {"tags": ["sla_warning", "vip"]})
    assert client.remove_tags(5, ["billing"]) == ["vip", "sla_warning"]
    delete = fake_zendesk.calls[-1]
    assert (delete.method, delete.json) == ("DELETE", {"tags": ["billing"]})
    assert fake_zendesk.tickets[5]["tags"] == ["vip", "sla_warning"]


def test_update_ticket_sends_safe_update_with_stamp(fake_zendesk: FakeZendesk) -> None:
    ticket = fake_zendesk.add_ticket(9)
    stamp = ticket["updated_at"]
    result = make(fake_zendesk).update_ticket(9, {"priority": "urgent"}, updated_stamp=stamp)
    assert result["priority"] == "urgent" and result["updated_at"] != stamp
    assert fake_zendesk.calls[-1].json == {"ticket": {"priority": "urgent", "safe_update": True,
                                                      "updated_stamp": stamp}}


def test_update_ticket_without_stamp_is_a_plain_update(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.add_ticket(9)
    make(fake_zendesk).update_ticket(9, {"group_id": 3}, updated_stamp=None)
    assert fake_zendesk.calls[-1].json == {"ticket": {"group_id": 3}}


def test_stale_stamp_is_conflict(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.add_ticket(9)
    with pytest.raises(Conflict) as info:
        make(fake_zendesk).update_ticket(9, {"priority": "low"}, updated_stamp="2020-01-01T00:00:00Z")
    assert "UpdateConflict" in str(info.value)
    assert fake_zendesk.tickets[9]["priority"] == "normal"


def test_internal_note_is_a_private_comment(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.add_ticket(3)
    make(fake_zendesk).add_internal_note(3, "SLA breach in 15m")
    assert fake_zendesk.calls[-1].json == {"ticket": {"comment": {"body": "SLA breach in 15m", "public": False}}}
    assert fake_zendesk.tickets[3]["comments"][-1]["public"] is False


# -- errors ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    "Number of allowed API requests per minute exceeded",
    {"error": "APIRateLimitExceeded", "description": "Number of allowed API requests per minute exceeded"},
])
def test_429_is_transient_with_retry_after(fake_zendesk: FakeZendesk, body: Any) -> None:
    fake_zendesk.add_ticket(1)
    fake_zendesk.fail_next(429, body, {"Retry-After": "37"})
    with pytest.raises(Transient) as info:
        make(fake_zendesk).get_ticket(1)
    assert info.value.retry_after == 37.0
    assert "429" in str(info.value) and "exceeded" not in str(info.value)


def test_503_is_transient_with_retry_after(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.fail_next(503, "Service Unavailable", {"Retry-After": "5"})
    with pytest.raises(Transient) as info:
        make(fake_zendesk).add_tags(1, ["x"])
    assert info.value.retry_after == 5.0


@pytest.mark.parametrize("status", [500, 502, 504])
def test_other_5xx_is_transient(fake_zendesk: FakeZendesk, status: int) -> None:
    fake_zendesk.fail_next(status, "<html>oops</html>")
    with pytest.raises(Transient) as info:
        make(fake_zendesk).get_ticket(1)
    assert info.value.retry_after is None and str(status) in str(info.value)
    assert "oops" not in str(info.value)


def test_wrong_credentials_are_permanent_and_clean(fake_zendesk: FakeZendesk) -> None:
    client = ZendeskClient(None, EMAIL, TOKEN + "x", base_url=fake_zendesk.base_url)
    with pytest.raises(Permanent) as info:
        client.get_ticket(1)
    assert "401" in str(info.value) and "authenticate" not in str(info.value)
    assert_clean(info.value)


def test_403_is_permanent(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.fail_next(403, {"error": "Forbidden", "description": "You do not have access"})
    with pytest.raises(Permanent) as info:
        make(fake_zendesk).get_ticket(1)
    assert "403" in str(info.value)
    assert_clean(info.value)


def test_404_is_permanent_and_clean(fake_zendesk: FakeZendesk) -> None:
    with pytest.raises(Permanent) as info:
        make(fake_zendesk).get_ticket(404404)
    assert str(info.value) == "ticket 404404 not found in Zendesk (404 Not Found)"
    assert_clean(info.value)


def test_422_names_the_field_and_drops_the_values(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.add_ticket(8)
    fake_zendesk.date_fields.add(111111)
    with pytest.raises(Permanent) as info:
        make(fake_zendesk).update_ticket(8, {"custom_fields": [{"id": 111111, "value": "2026-03-02T15:00:00Z"}]},
                                         updated_stamp=None)
    text = str(info.value)
    assert "custom field 111111 (InvalidValue)" in text and "RecordInvalid" in text
    assert "2026-03-02" not in text and "Date Field" not in text
    assert_clean(info.value)


def test_422_keeps_field_names_not_descriptions(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.fail_next(422, {"error": "RecordInvalid", "description": "Record validation errors",
                                 "details": {"assignee_id": [{"description": f"{EMAIL} is not in group"}]}})
    with pytest.raises(Permanent) as info:
        make(fake_zendesk).update_ticket(8, {"group_id": 2}, updated_stamp=None)
    assert "assignee_id" in str(info.value)
    assert_clean(info.value)


def test_closed_ticket_is_permanent(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.add_ticket(6, status="closed")
    client = make(fake_zendesk)
    with pytest.raises(Permanent, match="closed"):
        client.update_ticket(6, {"priority": "high"}, updated_stamp=None)
    with pytest.raises(Permanent, match="closed"):
        client.add_tags(6, ["sla_breached"])


def test_redirect_is_not_followed(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.fail_next(302, "", {"Location": "https://elsewhere.example/"})
    with pytest.raises(Permanent, match="redirects"):
        make(fake_zendesk).get_ticket(1)
    assert len(fake_zendesk.calls) == 1


def test_non_json_success_is_transient(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.fail_next(200, "<html>captive portal</html>")
    with pytest.raises(Transient, match="not JSON"):
        make(fake_zendesk).get_ticket(1)


def test_connection_refused_is_transient() -> None:
    client = ZendeskClient(None, EMAIL, TOKEN, base_url="http://127.0.0.1:9", timeout=1)
    with pytest.raises(Transient) as info:
        client.get_ticket(1)
    assert isinstance(info.value.__cause__, requests.ConnectionError)
    assert_clean(info.value)


@responses.activate
def test_timeout_is_transient() -> None:
    responses.get("https://acme.zendesk.com/api/v2/tickets/1.json", body=requests.ReadTimeout("slow"))
    with pytest.raises(Transient, match="timed out") as info:
        ZendeskClient("acme", EMAIL, TOKEN).get_ticket(1)
    assert isinstance(info.value.__cause__, requests.Timeout)


# -- rate limit -----------------------------------------------------------------------------------------------

def test_proactive_rate_limit_blocks_until_reset(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.add_ticket(1)
    clock = Clock()
    client = make(fake_zendesk, clock=clock)
    fake_zendesk.rate_limit(remaining=0, reset=30)
    assert client.get_ticket(1)["id"] == 1  # the call that used the last request succeeds
    calls = len(fake_zendesk.calls)
    with pytest.raises(Transient) as info:
        client.get_ticket(1)
    assert info.value.retry_after == 30.0
    assert len(fake_zendesk.calls) == calls  # nothing was sent
    clock.now += 10
    with pytest.raises(Transient) as info:
        client.add_tags(1, ["x"])
    assert info.value.retry_after == 20.0
    clock.now += 21
    fake_zendesk.rate_limit(remaining=699)
    assert client.get_ticket(1)["id"] == 1


def test_429_holds_later_calls_until_retry_after(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.add_ticket(1)
    clock = Clock()
    client = make(fake_zendesk, clock=clock)
    fake_zendesk.fail_next(429, "Number of allowed API requests per minute exceeded", {"Retry-After": "10"})
    with pytest.raises(Transient):
        client.get_ticket(1)
    with pytest.raises(Transient) as info:
        client.get_ticket(1)
    assert info.value.retry_after == 10.0 and len(fake_zendesk.calls) == 1
    clock.now += 10
    assert client.get_ticket(1)["id"] == 1


def test_remaining_above_zero_does_not_block(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.add_ticket(1)
    fake_zendesk.rate_limit(remaining=1)
    client = make(fake_zendesk)
    client.get_ticket(1)
    client.get_ticket(1)


@responses.activate
def test_proactive_limit_without_reset_header_waits_a_minute() -> None:
    responses.get("https://acme.zendesk.com/api/v2/tickets/1.json", json={"ticket": {"id": 1}},
                  headers={"X-Rate-Limit-Remaining": "0"})
    client = ZendeskClient("acme", EMAIL, TOKEN, clock=Clock())
    client.get_ticket(1)
    with pytest.raises(Transient) as info:
        client.get_ticket(1)
    assert info.value.retry_after == 60.0


# -- timeouts on every call -----------------------------------------------------------------------------------

def test_every_request_has_a_timeout_and_no_redirects(fake_zendesk: FakeZendesk) -> None:
    fake_zendesk.add_ticket(2, comments=[{"id": 1, "body": "hi", "public": True}])
    fake_zendesk.users[1] = {"id": 1, "role": "agent"}
    fake_zendesk.groups.append({"id": 4, "name": "Tier 2"})
    session = RecordingSession()
    client = make(fake_zendesk, timeout=4.5, session=session)
    client.get_ticket(2)
    client.list_comments(2)
    client.get_user_role(1)
    client.list_groups()
    client.add_tags(2, ["a"])
    client.remove_tags(2, ["a"])
    client.update_ticket(2, {"priority": "low"}, updated_stamp=None)
    client.add_internal_note(2, "note")
    client.create_or_update_webhook({"name": "SLA", "endpoint": "https://sla.example/hooks/zendesk"})
    client.create_or_update_trigger({"title": "SLA", "conditions": {}, "actions": []})
    assert len(session.kwargs) == len(fake_zendesk.calls) >= 12
    for kwargs in session.kwargs:
        assert kwargs["timeout"] == (CONNECT_TIMEOUT, 4.5)
        assert kwargs["allow_redirects"] is False


# -- webhooks and triggers ------------------------------------------------------------------------------------

def test_create_or_update_webhook(fake_zendesk: FakeZendesk) -> None:
    client = make(fake_zendesk)
    spec = {"name": "SLA connector", "endpoint": "https://sla.example/hooks/zendesk", "http_method": "POST",
            "request_format": "json", "status": "active", "subscriptions": ["conditional_ticket_events"]}
    created = client.create_or_update_webhook(spec)
    assert created["id"] and client.list_webhooks()[0]["endpoint"] == spec["endpoint"]
    updated = client.create_or_update_webhook({**spec, "endpoint": "https://sla2.example/hooks/zendesk"})
    assert updated["id"] == created["id"]
    assert [w["endpoint"] for w in client.list_webhooks()] == ["https://sla2.example/hooks/zendesk"]
    assert fake_zendesk.calls[-2].method == "PUT"
    assert client.webhook_signing_secret(created["id"])


def test_create_or_update_trigger(fake_zendesk: FakeZendesk) -> None:
    client = make(fake_zendesk)
    spec = {"title": "SLA connector: notify", "conditions": {"any": []},
            "actions": [{"field": "notification_webhook", "value": ["01H", "{}"]}]}
    created = client.create_or_update_trigger(spec)
    again = client.create_or_update_trigger({**spec, "active": False})
    assert again["id"] == created["id"] and again["active"] is False
    assert len(client.list_triggers()) == 1


def test_webhook_and_trigger_need_a_name() -> None:
    client = ZendeskClient("acme", EMAIL, TOKEN)
    with pytest.raises(Permanent):
        client.create_or_update_webhook({"endpoint": "https://x"})
    with pytest.raises(Permanent):
        client.create_or_update_trigger({"actions": []})
