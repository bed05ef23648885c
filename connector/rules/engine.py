"""The rules core as one object: classify, select a policy, run clocks, decide actions.

`Rulebook(config)` compiles the config once. It is fed a ticket's events one at a time
(`apply(state, event)`, for the live worker, whose `TicketState` is persisted between events) or a whole
history (`run(events)`, for replay); both give the same state, because both apply events in
`occurred_at` order (ties by arrival) and ignore a repeated event id. An event older than the last one
applied raises `OutOfOrder`: the caller rebuilds the ticket from its stored history with `run`. A comment
already applied under another id (same author, visibility and second, ±1 s) counts once, but the rest of
its event (status, priority, every field of the snapshot) is applied like a `ticket.updated`.

`evaluate(state, now)` reports a ticket at an instant (severity, policy, clocks, actions due) and
changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import msgspec

from connector.events import (
    Event,
    Ticket,
    event_to_dict,
    format_instant,
    merge_partial,
    order_events,
    parse_instant,
    parse_ticket,
    updated,
)
from connector.rules.clocks import (
    FIRST_RESPONSE,
    RESOLUTION,
    Clock,
    ClockRun,
    PolicyBook,
    TicketClocks,
    _no_note,
    target_for,
)
from connector.rules.conditions import Facts, ticket_fields_read
from connector.rules.escalation import Decision, Escalator, TicketRef
from connector.rules.internal import Agreements, TeamClocks
from connector.rules.severity import RULE_DEFAULT, RULE_PRIORITY_MAP, Classifier, SeverityResult

if TYPE_CHECKING:
    from connector.config import Config, Policy


Fingerprint = tuple[int, str, bool]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _fingerprint(event: Event) -> Fingerprint | None:
    """Identify a comment across channels: its second, author and visibility (None without an author id)."""
    comment = event.comment
    if comment is None or not comment.author_id or event.type != "comment.added":
        return None
    return (_whole_second(event.occurred_at), comment.author_id, comment.public)


def _whole_second(at: datetime) -> int:
    """Return int(at.timestamp()) without the float round trip (about 5x cheaper) for whole seconds."""
    since = at - _EPOCH
    if since.microseconds:
        return int(at.timestamp())
    return since.days * 86400 + since.seconds


def _applied_before(comments: set[Fingerprint], print_: Fingerprint) -> bool:
    """Return whether a comment with this fingerprint (within a second) was applied already."""
    second, author, public = print_
    return (print_ in comments or (second - 1, author, public) in comments
            or (second + 1, author, public) in comments)


_REQUESTER_PARTS = {"requester": ("requester.id", "requester.org", "requester.tier")}


_AUTHORS = {"agent": "an agent", "end_user": "the end user", "system": "the system"}


def _severity_why(severity: SeverityResult) -> str:
    """Return why a ticket has its severity, for the timeline: the rule and the conditions that held."""
    why = "; ".join(severity.matched)
    if severity.rule == RULE_PRIORITY_MAP:
        return f"from the priority map: {why}"
    if severity.rule == RULE_DEFAULT:
        return f"by default: {why}"
    return f"by rule {severity.rule}: {why}"


def _creation_note(policy: Policy | None, severity: str) -> str:
    """Return the timeline note of a ticket's creation: which of its clocks start."""
    if policy is None:
        return "ticket created"
    started = [m for m in (FIRST_RESPONSE, RESOLUTION) if target_for(policy, severity, m) is not None]
    if not started:
        return f"ticket created: no clock starts ({severity} has no first_response or resolution target)"
    return f"ticket created: {' and '.join(started)} start{'s' if len(started) == 1 else ''}"


class OutOfOrder(Exception):
    """An event is older than the last one applied to its ticket: rebuild the ticket from history."""


@dataclass(slots=True, kw_only=True)
class TicketState:
    """Everything the core remembers about one ticket between events (persistable)."""

    source: str
    account: str
    ticket_id: str
    created_at: datetime
    snapshot: Ticket
    severity: SeverityResult
    policy: str | None
    policy_reasons: tuple[str, ...]
    clocks: TicketClocks
    last_at: datetime
    seen: set[str] = field(default_factory=set)
    comments: set[Fingerprint] = field(default_factory=set)  # of the comments applied (see `_fingerprint`)
    severity_changes: list[tuple[datetime, str | None, str, str]] = field(default_factory=list)
    teams: TeamClocks = field(default_factory=TeamClocks)  # who held it when, and its internal clocks
    timeline: list[tuple[datetime, str]] | None = None  # kept only when asked (explain)
    facts_key: tuple[Any, ...] | None = None  # what severity and policy were last computed from; not persisted

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.source, self.account, self.ticket_id)

    def note(self, at: datetime, text: str) -> None:
        if self.timeline is not None:
            self.timeline.append((at, text))

    def to_dict(self) -> dict[str, Any]:
        snapshot = event_to_dict(Event(source=self.source, account=self.account, ticket_id=self.ticket_id,
                                       event_id="-", occurred_at=self.last_at, type="ticket.updated",
                                       ticket=self.snapshot))["ticket"]
        return {
            "source": self.source, "account": self.account, "ticket_id": self.ticket_id,
            "created_at": format_instant(self.created_at), "snapshot": snapshot,
            "severity": self.severity.as_dict(), "policy": self.policy, "policy_reasons": list(self.policy_reasons),
            "clocks": self.clocks.to_dict(), "last_at": format_instant(self.last_at), "seen": sorted(self.seen),
            "comments": sorted([list(c) for c in self.comments]),
            "severity_changes": [[format_instant(at), d, c, r] for at, d, c, r in self.severity_changes],
            "teams": self.teams.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TicketState:
        sev = data["severity"]
        return cls(
            source=data["source"], account=data["account"], ticket_id=data["ticket_id"],
            created_at=parse_instant(data["created_at"], "created_at"), snapshot=parse_ticket(data["snapshot"]),
            severity=SeverityResult(declared=sev["declared"], classified=sev["classified"], rule=sev["rule"],
                                    matched=tuple(sev.get("matched", ()))),
            policy=data["policy"], policy_reasons=tuple(data.get("policy_reasons", ())),
            clocks=TicketClocks.from_dict(data["clocks"]), last_at=parse_instant(data["last_at"], "last_at"),
            seen=set(data.get("seen", ())),
            comments={(int(c[0]), str(c[1]), bool(c[2])) for c in data.get("comments", ())},
            severity_changes=[(parse_instant(at, "at"), d, c, r) for at, d, c, r in data.get("severity_changes", [])],
            teams=_stored_teams(data),
        )


def _stored_teams(data: Mapping[str, Any]) -> TeamClocks:
    """Return a stored ticket's handoffs; a state stored before they were kept starts its timeline with the
    holder the next event finds, from that event on."""
    teams = data.get("teams")
    return TeamClocks() if teams is None else TeamClocks.from_dict(teams)


class TicketReport(msgspec.Struct, frozen=True, kw_only=True):
    """A ticket as it stands at an instant: the JSON of one ticket in `connector replay`."""

    source: str
    account: str
    ticket_id: str
    severity: SeverityResult
    policy: str | None
    clocks: tuple[Clock, ...]
    actions: tuple[Decision, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ticket": {"source": self.source, "account": self.account, "id": self.ticket_id},
            "severity": {"declared": self.severity.declared, "classified": self.severity.classified,
                         "rule": self.severity.rule},
            "policy": self.policy,
            "clocks": [c.as_dict() for c in self.clocks],
            "actions": [a.as_dict() for a in self.actions],
        }


class Rulebook:
    """The compiled rules of one config."""

    __slots__ = ("config", "classifier", "policies", "escalator", "agreements", "calendar", "_policy_by_name",
                 "_reads")

    def __init__(self, config: Config) -> None:
        self.config = config
        self.classifier = Classifier(config)
        self.policies = PolicyBook(config)
        self.escalator = Escalator(config.escalations)
        self.agreements = Agreements(config)
        self.calendar = {name: config.calendar(name) for name in config.calendar_names()}.__getitem__
        self._policy_by_name = {p.name: p for p in config.policies}
        # severity and policy depend only on what the conditions read: a change elsewhere reuses them.
        # The requester is read as its three strings: comparing those is cheaper than the dataclass's __eq__.
        reads = ticket_fields_read([r.when for r in config.classification.rules] + [p.when for p in config.policies])
        self._reads = attrgetter(*(name for read in reads for name in _REQUESTER_PARTS.get(read, (read,))),
                                 "priority")

    def _classify(self, state: TicketState | None, event: Event) -> tuple[SeverityResult, Any, tuple[str, ...], tuple]:
        """Return (severity, policy, reasons, facts key), reusing the ticket's last answer when nothing changed."""
        t = event.ticket
        key = (event.source, event.account, self._reads(t))
        if state is not None and state.facts_key == key:
            return state.severity, self.policy(state.policy), state.policy_reasons, key
        facts = Facts(source=event.source, account=event.account, ticket=t)
        severity = self.classifier.classify(facts)
        policy, reasons = self.policies.select(
            Facts(source=event.source, account=event.account, ticket=t, severity=severity.classified))
        return severity, policy, tuple(reasons), key

    def apply(self, state: TicketState | None, event: Event, *, record: bool = False) -> TicketState:
        """Apply one event to a ticket's state (None for a ticket not seen yet) and return the state."""
        print_ = _fingerprint(event)
        duplicate = False
        if state is not None:
            if event.event_id in state.seen:
                return state
            if event.occurred_at < state.last_at:
                raise OutOfOrder(f"event {event.event_id} at {format_instant(event.occurred_at)} is older than "
                                 f"the last one applied ({format_instant(state.last_at)})")
            if event.given is not None:  # a partial update: the fields it carries over the ticket as it stood
                event = merge_partial(state.snapshot, event)
            if print_ is not None and state.comments and _applied_before(state.comments, print_):
                # the same comment reported again under another id (a webhook and a poll of the history):
                # the comment counts once, but the ticket's snapshot after this event still applies
                duplicate = True
                event = updated(event, type="ticket.updated", comment=None)
                print_ = None
        at = event.occurred_at
        severity, policy, reasons, facts_key = self._classify(state, event)
        policy_name = None if policy is None else policy.name
        if state is None:
            created = event.ticket.created_at or at
            created = min(created, at)
            state = TicketState(
                source=event.source, account=event.account, ticket_id=event.ticket_id, created_at=created,
                snapshot=event.ticket, severity=severity, policy=policy_name, policy_reasons=tuple(reasons),
                clocks=TicketClocks.start(created_at=created), last_at=at, timeline=[] if record else None,
                severity_changes=[(at, severity.declared, severity.classified, severity.rule)],
            )
            if record:
                state.note(created, _creation_note(policy, severity.classified))
                state.note(at, f"severity {severity.classified} {_severity_why(severity)}")
                state.note(at, f"policy {policy_name}: {'; '.join(reasons) or 'matches every ticket'}" if policy
                           else "no policy matches: no clock runs")
        else:
            previous = state.severity
            if previous is not severity and (previous.classified, previous.declared, previous.rule) != \
                    (severity.classified, severity.declared, severity.rule):
                state.severity_changes.append((at, severity.declared, severity.classified, severity.rule))
                if previous.classified != severity.classified:
                    state.note(at, f"severity {previous.classified} → {severity.classified} {_severity_why(severity)}")
            if policy_name != state.policy:
                state.note(at, f"policy {state.policy or '(none)'} → {policy_name or '(none)'}")
            state.snapshot = event.ticket
            state.severity = severity
            state.policy = policy_name
            state.policy_reasons = reasons
            state.last_at = at
        state.seen.add(event.event_id)
        state.facts_key = facts_key
        if print_ is not None:
            state.comments.add(print_)
        if duplicate:
            state.note(at, "the same comment again (same author, visibility and second): counted once; "
                           "the ticket's changes applied")
        if state.timeline is not None and event.comment is not None and event.type != "ticket.created":
            c = event.comment
            state.note(at, f"{'public' if c.public else 'private'}{' automated' if c.automated else ''} comment by "
                           f"{_AUTHORS.get(c.author_role, c.author_role)}")
        note = state.note if state.timeline is not None else _no_note
        is_creation = event.type == "ticket.created"
        state.clocks.apply(at, event.ticket.status, event.comment, is_creation, policy, severity.classified, note)
        # handoffs and internal clocks; a new ticket's team got it when it was created
        state.teams.apply(self.agreements, state.created_at if len(state.seen) == 1 else at, event.source,
                          event.account, event.ticket, severity.classified,
                          None if is_creation else event.comment, note)
        return state

    def run(self, events: Iterable[Event], *, record: bool = False) -> dict[tuple[str, str, str], TicketState]:
        """Apply a whole history (any order, repeats allowed) and return each ticket's state."""
        states: dict[tuple[str, str, str], TicketState] = {}
        for event in order_events(events):
            key = (event.source, event.account, event.ticket_id)  # event.key, without a property call per event
            states[key] = self.apply(states.get(key), event, record=record)
        return states

    def _views(self, state: TicketState, now: datetime, *, held: bool = True
               ) -> tuple[TicketRef, list[tuple[ClockRun, Clock]], list[tuple[Any, list[tuple[ClockRun, Clock]]]]]:
        """The ticket's reference, its customer clocks' views and each agreement's that ever held it."""
        pairs = state.clocks.views(now, self.calendar, state.teams.holders if held else None)
        ref = TicketRef(source=state.source, account=state.account, ticket_id=state.ticket_id,
                        severity=state.severity.classified)
        runs = state.teams.runs
        internal = [(agreement, state.teams.views(agreement, now, self.calendar))
                    for agreement in self.agreements.items if agreement.name in runs]
        return ref, pairs, internal

    def _report(self, state: TicketState, now: datetime, ref: TicketRef, pairs: list[tuple[ClockRun, Clock]],
                internal: list[tuple[Any, list[tuple[ClockRun, Clock]]]]) -> TicketReport:
        actions = self.escalator.decide(ref, pairs, now, self.calendar)
        clocks = [clock for _, clock in pairs]
        for agreement, views in internal:
            if views:
                clocks.extend(clock for _, clock in views)
                if agreement.escalator:  # an internal clock never sets the help desk's (customer-facing) due date
                    actions.extend(agreement.escalator.decide(ref, views, now, self.calendar, due_dates=False))
        return TicketReport(source=state.source, account=state.account, ticket_id=state.ticket_id,
                            severity=state.severity, policy=state.policy,
                            clocks=tuple(clocks), actions=tuple(actions))

    def _soonest(self, now: datetime, ref: TicketRef, pairs: list[tuple[ClockRun, Clock]],
                 internal: list[tuple[Any, list[tuple[ClockRun, Clock]]]]) -> datetime | None:
        soonest = self.escalator.next_check(ref, pairs, now, self.calendar)
        for agreement, views in internal:
            if views:
                at = agreement.escalator.next_check(ref, views, now, self.calendar)
                if at is not None and (soonest is None or at < soonest):
                    soonest = at
        return soonest

    def evaluate(self, state: TicketState, now: datetime) -> TicketReport:
        """Report a ticket at `now`: its severity, policy, clocks and the actions due. Changes nothing."""
        return self._report(state, now, *self._views(state, now))

    def next_check(self, state: TicketState, now: datetime) -> datetime | None:
        """Return when the scheduler must evaluate this ticket again (None: only a new event changes it)."""
        ref, pairs, internal = self._views(state, now, held=False)
        return self._soonest(now, ref, pairs, internal)

    def assess(self, state: TicketState, now: datetime) -> tuple[TicketReport, datetime | None]:
        """`evaluate` and `next_check` at once, the clocks viewed once (what the worker records each time)."""
        ref, pairs, internal = self._views(state, now)
        return self._report(state, now, ref, pairs, internal), self._soonest(now, ref, pairs, internal)

    def policy(self, name: str | None) -> Any:
        return None if name is None else self._policy_by_name.get(name)
