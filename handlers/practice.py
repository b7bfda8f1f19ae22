"""A practice round: a short batch of fictional voters, pretend calls, real result buttons.

The cards look like a batch's (the campaign's script, filled in for a made-up voter), but the
voters exist only in this module: they have no phone number, Call never reaches the telephony
port (`Services.telephony` is not touched here), and rounds live in their own tables
(`PracticeRound`, `PracticeCall`), which stats, exports, leaderboards and goals never read.
A new round ends the volunteer's earlier one; buttons of an ended round say so and do nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from handlers.campaigns import ActiveCampaign, active_campaign
from handlers.context import Context
from handlers.refusal import Refusal, int_value, signed_up
from handlers.replies import Button, ButtonStyle, Fact, Reply, Section, Tone
from handlers.scripts import ScriptVoter, pick_script, render_script, script_context
from handlers.training import refuse_if_suspended
from storage.db import read_session, session_scope
from storage.models import PracticeCall, PracticeRound, Volunteer

START = "pb:practice:start"
CALL = "pb:practice:call"
LOG = "pb:practice:log"
END = "pb:practice:end"
MAX_RESULTS = 10  # result buttons on a practice card


@dataclass(frozen=True)
class FictionalVoter:
    first_name: str
    last_name: str
    what_happens: str  # how the pretend call goes


FICTIONAL_VOTERS = (
    FictionalVoter("Pat", "Example", "Pat answers and is happy to talk."),
    FictionalVoter("Sam", "Sample", "Nobody answers; the phone rings out."),
    FictionalVoter("Alex", "Placeholder", "Alex says: please take me off your list."),
)
PRACTICE_PLACE = "Practice Elementary School"


def practice(ctx: Context, args: list[str]) -> Reply:
    """A practice round: fictional voters and pretend calls, nothing counted."""
    return start(ctx, "")


def start(ctx: Context, value: str) -> Reply:
    """Start a practice round (ending an earlier one)."""
    volunteer_id = signed_up(ctx)
    campaign = active_campaign(ctx)
    now = ctx.services.clock.now()
    with session_scope(ctx.services.engine) as session:
        refuse_if_suspended(session.get(Volunteer, volunteer_id))
        for earlier in _open_rounds(session, volunteer_id):
            earlier.ended_at = now
        practice_round = PracticeRound(
            volunteer_id=volunteer_id,
            campaign_id=campaign.id,
            voters=len(FICTIONAL_VOTERS),
            started_at=now,
        )
        session.add(practice_round)
        session.flush()
        round_id = int(practice_round.id or 0)
    intro = (
        "Practice round: these voters are made up and calls are pretend; nobody is dialed and"
        " nothing counts. Press Call, then log what happened."
    )
    return _view(ctx, campaign, round_id, intro)


def call(ctx: Context, value: str) -> Reply:
    """A practice card's Call: the pretend call connects at once."""
    round_id, position = _pair(value)
    campaign = active_campaign(ctx)
    with session_scope(ctx.services.engine) as session:
        _open_round(session, ctx, round_id)
        if _call(session, round_id, position) is None:
            session.add(
                PracticeCall(
                    round_id=round_id, position=position, called_at=ctx.services.clock.now()
                )
            )
    voter = FICTIONAL_VOTERS[position]
    text = f"(Pretend call) {voter.what_happens} Log the result on {voter.first_name}'s card."
    return _view(ctx, campaign, round_id, text)


def log(ctx: Context, value: str) -> Reply:
    """A practice card's result button."""
    parts = value.split(":")
    if len(parts) != 3:
        raise Refusal("That button is out of date; start a new practice round.")
    round_id, position = _pair(":".join(parts[:2]))
    campaign = active_campaign(ctx)
    result = campaign.config.result_code(parts[2])
    if result is None:
        raise Refusal("That result is not one of the campaign's; pick one of the buttons.")
    now = ctx.services.clock.now()
    with session_scope(ctx.services.engine) as session:
        practice_round = _open_round(session, ctx, round_id)
        made = _call(session, round_id, position)
        if made is None:
            raise Refusal("Press Call on that card first.")
        if made.result_code is not None:
            raise Refusal("That practice card is logged already.")
        made.result_code, made.logged_at = result.code, now
        session.flush()
        logged = _logged(session, round_id)
        if logged >= practice_round.voters:
            practice_round.ended_at = now
    voter = FICTIONAL_VOTERS[position]
    if logged >= len(FICTIONAL_VOTERS):
        return _finished(ctx, campaign, round_id, f"Logged for {voter.first_name}: {result.label}.")
    return _view(ctx, campaign, round_id, f"Logged for {voter.first_name}: {result.label}.")


def end(ctx: Context, value: str) -> Reply:
    """End a practice round now."""
    round_id = int_value(value)
    campaign = active_campaign(ctx)
    with session_scope(ctx.services.engine) as session:
        _open_round(session, ctx, round_id).ended_at = ctx.services.clock.now()
    return _finished(ctx, campaign, round_id, "Practice ended.")


# --- what is shown ------------------------------------------------------------------------------


def _view(ctx: Context, campaign: ActiveCampaign, round_id: int, intro: str) -> Reply:
    with read_session(ctx.services.engine) as session:
        calls = {c.position: c for c in _calls(session, round_id)}
        volunteer = session.get(Volunteer, signed_up(ctx))
        name = volunteer.name if volunteer else ""
    sections = tuple(
        _card(campaign, round_id, position, voter, calls.get(position), name)
        for position, voter in enumerate(FICTIONAL_VOTERS)
    )
    return Reply(
        text=intro,
        sections=sections,
        buttons=(Button("End practice", END, str(round_id)),),
        update_key=f"practice:{round_id}",
    )


def _card(
    campaign: ActiveCampaign,
    round_id: int,
    position: int,
    voter: FictionalVoter,
    made: PracticeCall | None,
    volunteer_name: str,
) -> Section:
    config = campaign.config
    template = pick_script(config.scripts, config.default_language, config.default_language)
    script_voter = ScriptVoter(
        voter.first_name,
        voter.last_name,
        config.default_language,
        None,
        None,
        None,
        {"PollingPlace": PRACTICE_PLACE},
    )
    script = render_script(template, script_context(script_voter, volunteer_name, campaign.name))
    title = f"{voter.first_name} {voter.last_name} (practice voter)"
    text = f"{title}\n{script}"
    key = f"{round_id}:{position}"
    if made is None:
        return Section(text, buttons=(Button("Call", CALL, key, ButtonStyle.PRIMARY),))
    if made.result_code is None:
        buttons = tuple(
            Button(code.label, LOG, f"{key}:{code.code}")
            for code in config.result_codes[:MAX_RESULTS]
        )
        return Section(text, buttons=buttons)
    label = (config.result_code(made.result_code) or config.result_codes[0]).label
    return Section(text, facts=(Fact("Result", label),))


def _finished(ctx: Context, campaign: ActiveCampaign, round_id: int, intro: str) -> Reply:
    with read_session(ctx.services.engine) as session:
        logged = _logged(session, round_id)
    text = (
        f"{intro} Practice done: {logged} of {len(FICTIONAL_VOTERS)} pretend calls logged."
        " None of it counts; when you are ready, take a real batch."
    )
    return Reply(
        text=text,
        tone=Tone.SUCCESS,
        buttons=(
            Button("Get a batch", "pb:batch:claim", style=ButtonStyle.PRIMARY),
            Button("Practice again", START),
        ),
    )


# --- storage ------------------------------------------------------------------------------------


def _pair(value: str) -> tuple[int, int]:
    parts = value.split(":")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise Refusal("That button is out of date; start a new practice round.")
    round_id, position = int(parts[0]), int(parts[1])
    if position >= len(FICTIONAL_VOTERS):
        raise Refusal("That button is out of date; start a new practice round.")
    return round_id, position


def _open_round(session: Session, ctx: Context, round_id: int) -> PracticeRound:
    """The asker's practice round, locked, or a refusal (not theirs, over, suspended)."""
    volunteer_id = signed_up(ctx)
    refuse_if_suspended(session.get(Volunteer, volunteer_id))
    practice_round = session.exec(
        select(PracticeRound).where(PracticeRound.id == round_id).with_for_update()
    ).first()
    if practice_round is None or practice_round.volunteer_id != volunteer_id:
        raise Refusal("That practice round is not yours; start your own with /phonebank practice.")
    if practice_round.ended_at is not None:
        raise Refusal(
            Reply(
                text="That practice round is over, so its buttons do nothing."
                " Start a new one to practice again.",
                tone=Tone.WARNING,
                buttons=(Button("Practice again", START),),
            )
        )
    return practice_round


def _open_rounds(session: Session, volunteer_id: int) -> list[PracticeRound]:
    return list(
        session.exec(
            select(PracticeRound).where(
                PracticeRound.volunteer_id == volunteer_id, col(PracticeRound.ended_at).is_(None)
            )
        )
    )


def _calls(session: Session, round_id: int) -> list[PracticeCall]:
    return list(session.exec(select(PracticeCall).where(PracticeCall.round_id == round_id)))


def _call(session: Session, round_id: int, position: int) -> PracticeCall | None:
    return session.exec(
        select(PracticeCall).where(
            PracticeCall.round_id == round_id, PracticeCall.position == position
        )
    ).first()


def _logged(session: Session, round_id: int) -> int:
    return sum(1 for c in _calls(session, round_id) if c.result_code is not None)
