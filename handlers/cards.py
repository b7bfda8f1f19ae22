"""A batch as the volunteer sees it: one call card per phone, updated in place as calls go on.

A card shows the household's first names, the masked phone, the language, why it was matched,
the script filled in for the voter, what happened so far, and the buttons Call, Skip and Log
outcome while it is open. The whole batch is one message (`update_key` `batch:<id>`), so every
action on a card answers with the batch re-rendered: the platforms replace it in place.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Select, String, bindparam, cast, select
from sqlmodel import Session

from handlers.masking import mask_phone
from handlers.replies import Button, ButtonStyle, Fact, Reply, Section, Tone
from handlers.scripts import (
    PublishedScript,
    ScriptVoter,
    latest_script,
    pick_script,
    render_script,
    script_context,
)
from matching.pool import campaign_config
from matching.ranking import language_name
from matching.tables import ATTEMPT, BATCH, CAMPAIGN, CARD, ITEM, VOLUNTEER, VOTER
from storage.campaign_config import CampaignConfig
from storage.models import CallSession

SESSION = CallSession.__table__  # type: ignore[attr-defined]
SECTIONS_KEPT = 4096  # rendered cards kept for unchanged cards of the next render
_SECTIONS: OrderedDict[tuple[Any, ...], Section] = OrderedDict()
_SECTIONS_LOCK = threading.Lock()

CLAIM = "pb:batch:claim"
RELEASE = "pb:batch:release"
CALL = "pb:card:call"
SKIP = "pb:card:skip"
OUTCOME = "pb:card:outcome"
SURVEY = "pb:card:survey"  # survey answers for a call logged from the keypad (handlers/survey.py)
KEYPAD_PREFIX = "twilio:keypad:"  # the outcome key of a result logged from the keypad
VOICEMAIL = "pb:card:voicemail"  # leave the campaign's recorded message on the machine
NEXT = "pb:card:next"  # on the batch while its calling session is live: call the next card
NEED_HELP = "pb:question:help"  # ask the organizers about this card (handlers/questions.py)

_CALL_STATUS = {
    "queued": "Calling: your phone will ring in a moment",
    "placing": "Calling: your phone will ring in a moment",
    "initiated": "Calling: dialing",
    "ringing": "Calling: ringing",
    "in-progress": "Connected: you are on the call",
    "completed": "Call ended: log what happened",
    "busy": "Your phone was busy: try Call again",
    "no-answer": "You did not pick up: try Call again",
    "failed": "The call could not be placed: try again",
    "canceled": "The call was canceled",
}
_RETURNED = {
    "skipped": "Skipped",
    "expired": "Returned to the list: the batch expired",
    "released": "Returned to the list",
    "review": "Sent to the organizers for review",
}


@dataclass(frozen=True)
class VoterOnCard:
    voter_id: int
    first_name: str
    language: str
    open: bool  # still to be called from this card
    result_code: str | None
    script_voter: ScriptVoter
    survey_attempt: int | None = None  # logged from the keypad: its call awaits survey answers


@dataclass(frozen=True)
class CardView:
    card_id: int
    phone: str  # E.164: for masking and telephony only, never shown
    reason: str
    open: bool
    release_reason: str | None
    voters: tuple[VoterOnCard, ...]
    call_status: str | None  # the latest call on this card that has no outcome yet

    @property
    def open_voters(self) -> tuple[VoterOnCard, ...]:
        return tuple(voter for voter in self.voters if voter.open)

    @property
    def names(self) -> str:
        """The household's first names: 'Maria and José'."""
        return join_names([voter.first_name for voter in self.voters])


@dataclass(frozen=True)
class BatchView:
    batch_id: int
    volunteer_id: int
    campaign_id: int
    open: bool
    cards: tuple[CardView, ...]
    volunteer_name: str
    campaign_name: str
    config: CampaignConfig
    on_the_line: bool = False  # the volunteer's phone is live in a calling session
    script: PublishedScript | None = None  # a newer version than the file's, from a broadcast


def join_names(names: list[str]) -> str:
    """['Maria', 'José', 'Ana'] -> 'Maria, José and Ana'."""
    names = [name or "(no name)" for name in dict.fromkeys(names)]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def load_batch(session: Session, batch_id: int) -> BatchView | None:
    """Everything the batch message shows (`read_batch`, in the session's transaction)."""
    return read_batch(session.connection(), batch_id)


def read_batch(conn: Connection, batch_id: int) -> BatchView | None:
    """Everything the batch message shows, in three Core queries (this runs after every change
    of a call's state, so it skips the ORM's object loading)."""
    head = conn.execute(_BATCH_HEAD, {"batch_id": batch_id}).first()
    if head is None:
        return None
    rows = conn.execute(_CARD_ITEMS, {"batch_id": batch_id}).all()
    attempts = conn.execute(_ATTEMPTS, {"batch_id": batch_id}).all()
    config = campaign_config(head.config)
    card_of = {row.voter_id: row.card_id for row in rows if row.voter_id is not None}
    statuses = _open_call_status(attempts, card_of)
    surveys = _awaiting_survey(attempts, config)
    cards = groupby(rows, key=attrgetter("card_id"))
    return BatchView(
        batch_id=batch_id,
        volunteer_id=head.volunteer_id,
        campaign_id=head.campaign_id,
        open=head.closed_at is None,
        cards=tuple(_card(list(items), statuses, surveys) for _, items in cards),
        volunteer_name=head.volunteer_name,
        campaign_name=head.campaign_name,
        config=config,
        on_the_line=bool(head.on_the_line),
        script=latest_script(conn, head.campaign_id),
    )


def render_batch(view: BatchView, text: str | None = None, tone: Tone = Tone.INFO) -> Reply:
    """The batch message: a section per card, and "I'm done" (or "Get a batch" once closed)."""
    open_cards = [card for card in view.cards if card.open]
    if text is None:
        text = _summary(view, len(open_cards)) + _talking_points(view, open_cards)
    if view.open and open_cards:
        done = Button("I'm done", RELEASE, str(view.batch_id), ButtonStyle.DANGER)
        buttons: tuple[Button, ...] = (done,)
        if view.on_the_line:
            buttons = (Button("Next", NEXT, str(view.batch_id), ButtonStyle.PRIMARY), done)
    else:
        buttons = (Button("Get a batch", CLAIM, style=ButtonStyle.PRIMARY),)
    return Reply(
        text=text,
        tone=tone,
        sections=tuple(card_section(view, card) for card in view.cards),
        buttons=buttons,
        update_key=f"batch:{view.batch_id}",
    )


def card_section(view: BatchView, card: CardView) -> Section:
    """One call card. The batch is rendered again after every change of a call, and most of
    its cards did not change: those come from a memo keyed by everything a card shows."""
    key = _section_key(view, card)
    if key is None:
        return _render_section(view, card)
    with _SECTIONS_LOCK:
        section = _SECTIONS.get(key)
        if section is not None:
            _SECTIONS.move_to_end(key)
            return section
    section = _render_section(view, card)
    with _SECTIONS_LOCK:
        _SECTIONS[key] = section
        if len(_SECTIONS) > SECTIONS_KEPT:
            _SECTIONS.popitem(last=False)
    return section


class _Same:
    """Compares and hashes by identity: the campaign's configuration (memoized per document by
    matching.pool.campaign_config) in a memo key; the key holds it, so its id is never reused."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Same) and other.value is self.value


def _section_key(view: BatchView, card: CardView) -> tuple[Any, ...] | None:
    """Everything `_render_section` reads, hashable; None when a voter's columns are not."""
    voters = tuple(
        (
            voter.voter_id,
            voter.first_name,
            voter.language,
            voter.open,
            voter.result_code,
            voter.survey_attempt,
            _script_voter_key(voter.script_voter),
        )
        for voter in card.voters
    )
    key = (
        _Same(view.config),
        view.open,
        view.on_the_line,
        view.volunteer_name,
        view.campaign_name,
        view.script,
        card.card_id,
        card.phone,
        card.reason,
        card.open,
        card.release_reason,
        card.call_status,
        voters,
    )
    try:
        hash(key)
    except TypeError:  # a voter file column holding a list or a mapping
        return None
    return key


def _script_voter_key(voter: ScriptVoter) -> tuple[Any, ...]:
    return (
        voter.first_name,
        voter.last_name,
        voter.language,
        voter.state,
        voter.zip,
        voter.external_id,
        tuple(sorted(voter.attributes.items())),
    )


def _render_section(view: BatchView, card: CardView) -> Section:
    language = card.voters[0].language if card.voters else view.config.default_language
    facts = [
        Fact("Phone", mask_phone(card.phone)),
        Fact("Language", language_name(language)),
        Fact("Why you", card.reason or "next on the list"),
        Fact("Status", card_status(view.config, card)),
    ]
    surveys = tuple(
        Button(f"Survey: {voter.first_name or 'voter'}", SURVEY, str(voter.survey_attempt))
        for voter in card.voters
        if voter.survey_attempt is not None
    )
    if not (card.open and view.open):
        return Section(card.names, facts=tuple(facts), buttons=surveys)
    script = _script(view, card)
    buttons = (
        Button("Call", CALL, str(card.card_id), ButtonStyle.PRIMARY),
        Button("Skip", SKIP, str(card.card_id)),
        Button("Log outcome", OUTCOME, str(card.card_id)),
        *surveys,
        Button("Need help", NEED_HELP, str(card.card_id)),
    )
    if view.on_the_line and view.config.voicemail_url and card.call_status == "in-progress":
        buttons = (*buttons, Button("Drop voicemail", VOICEMAIL, str(card.card_id)))
    return Section(
        f"{card.names}{_update_note(view)}\n\n{script}", facts=tuple(facts), buttons=buttons
    )


def _update_note(view: BatchView) -> str:
    """'Updated 18:05: Polling place moved' on each open card once a broadcast changed the script
    (the time in the campaign's time zone); the talking points are said once, above the cards."""
    published = view.script
    if published is None:
        return ""
    at = published.published_at.astimezone(ZoneInfo(view.config.time_zone)).strftime("%H:%M")
    return f"\n\n*Updated {at}: {published.title}*"


def _talking_points(view: BatchView, open_cards: list[CardView]) -> str:
    published = view.script
    if published is None or not published.talking_points or not (view.open and open_cards):
        return ""
    return f"\n\n*{published.title}*: {published.talking_points}"


def card_status(config: CampaignConfig, card: CardView) -> str:
    """What has happened on the card, in words."""
    logged = [
        f"{voter.first_name or '(no name)'}: {_label(config, voter.result_code)}"
        for voter in card.voters
        if voter.result_code
    ]
    if card.open:
        now = _CALL_STATUS.get(card.call_status or "", "Not called yet")
        return "; ".join([*logged, now]) if logged else now
    if logged:
        return "Logged: " + "; ".join(logged)
    return _RETURNED.get(card.release_reason or "", "Closed")


def _summary(view: BatchView, open_count: int) -> str:
    if not view.open or not open_count:
        return "This batch is finished. Thank you! Get another when you are ready."
    calls = "call" if open_count == 1 else "calls"
    return f"{open_count} {calls} to make for {view.campaign_name}. Call, then log what happened."


def _script(view: BatchView, card: CardView) -> str:
    voter = (card.open_voters or card.voters)[0]
    scripts = view.script.scripts if view.script else view.config.scripts
    template = pick_script(scripts, voter.language, view.config.default_language)
    context = script_context(voter.script_voter, view.volunteer_name, view.campaign_name)
    context["household"] = card.names
    return render_script(template, context, phone=card.phone)


def _label(config: CampaignConfig, code: str | None) -> str:
    known = config.result_code(code or "")
    return known.label if known else (code or "")


def _card(rows: list[Any], statuses: Mapping[int, str], surveys: Mapping[int, int]) -> CardView:
    """A card from its rows: one per voter on it (or one without a voter, for a card with
    none), each carrying the card's columns."""
    card = rows[0]
    mine = [row for row in rows if row.voter_id is not None]
    voters = tuple(
        VoterOnCard(
            voter_id=item.voter_id,
            first_name=item.first_name,
            language=item.language,
            open=item.released_at is None,
            result_code=item.result_code,
            script_voter=ScriptVoter(
                first_name=item.first_name,
                last_name=item.last_name,
                language=item.language,
                state=item.state,
                zip=item.zip,
                external_id=item.external_id,
                attributes=item.attributes,
            ),
            survey_attempt=surveys.get(item.voter_id),
        )
        for item in mine
    )
    reasons = {item.release_reason for item in mine}
    reason = next((r for r in ("skipped", "expired", "released") if r in reasons), None)
    return CardView(
        card_id=card.card_id,
        phone=card.phone,
        reason=card.match_reason,
        open=card.card_released_at is None,
        release_reason=reason,
        voters=voters,
        call_status=statuses.get(card.card_id),
    )


def _awaiting_survey(attempts: Sequence[Any], config: CampaignConfig) -> dict[int, int]:
    """Voter id -> the attempt whose keypad result asks for a survey that has no answers yet."""
    with_survey = {code.code for code in config.result_codes if code.survey}
    if not with_survey or not config.survey:
        return {}
    return {
        attempt.voter_id: attempt.id
        for attempt in attempts
        if attempt.result_code in with_survey
        and (attempt.outcome_key or "").startswith(KEYPAD_PREFIX)
        and attempt.survey == {}
    }


def _open_call_status(attempts: Sequence[Any], card_of: Mapping[int, int]) -> dict[int, str]:
    """Card id -> status of its latest call that has no outcome yet (`attempts` in id order)."""
    return {
        card_of[attempt.voter_id]: attempt.call_status or "queued"
        for attempt in attempts
        if attempt.result_code is None and attempt.voter_id in card_of
    }


def _batch_head() -> Select[Any]:
    """The batch, its campaign's name and configuration (as text: the memo's key), the
    volunteer's name, and whether a calling session has the volunteer's phone up."""
    live = (
        select(SESSION.c.id)
        .where(
            SESSION.c.batch_id == BATCH.c.id,
            SESSION.c.ended_at.is_(None),
            SESSION.c.answered_at.is_not(None),
            SESSION.c.call_sid.is_not(None),
        )
        .exists()
    )
    return (
        select(
            BATCH.c.volunteer_id,
            BATCH.c.campaign_id,
            BATCH.c.closed_at,
            CAMPAIGN.c.name.label("campaign_name"),
            cast(CAMPAIGN.c.config, String).label("config"),
            VOLUNTEER.c.name.label("volunteer_name"),
            live.label("on_the_line"),
        )
        .join(CAMPAIGN, CAMPAIGN.c.id == BATCH.c.campaign_id)
        .join(VOLUNTEER, VOLUNTEER.c.id == BATCH.c.volunteer_id)
        .where(BATCH.c.id == bindparam("batch_id"))
    )


_BATCH_HEAD = _batch_head()
_CARD_ITEMS = (
    select(
        CARD.c.id.label("card_id"),
        CARD.c.phone,
        CARD.c.match_reason,
        CARD.c.released_at.label("card_released_at"),
        ITEM.c.voter_id,
        ITEM.c.released_at,
        ITEM.c.release_reason,
        ITEM.c.result_code,
        VOTER.c.first_name,
        VOTER.c.last_name,
        VOTER.c.language,
        VOTER.c.state,
        VOTER.c.zip,
        VOTER.c.external_id,
        VOTER.c.attributes,
    )
    .select_from(CARD)
    .outerjoin(ITEM.join(VOTER, VOTER.c.id == ITEM.c.voter_id), ITEM.c.card_id == CARD.c.id)
    .where(CARD.c.batch_id == bindparam("batch_id"))
    .order_by(CARD.c.position, CARD.c.id, ITEM.c.voter_id)
)
_ATTEMPTS = (
    select(
        ATTEMPT.c.id,
        ATTEMPT.c.voter_id,
        ATTEMPT.c.call_status,
        ATTEMPT.c.result_code,
        ATTEMPT.c.outcome_key,
        ATTEMPT.c.survey,
    )
    .where(ATTEMPT.c.batch_id == bindparam("batch_id"))
    .order_by(ATTEMPT.c.id)
)
