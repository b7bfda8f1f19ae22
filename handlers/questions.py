"""Help on hand: a volunteer's question reaches the organizers' channel, and the answer reaches
the volunteer.

**Need help** on a call card, or `/phonebank ask TEXT`, posts the question in the campaign's
organizers channel for the volunteer's platform (`questions.organizers_channels` in the
campaign file, per platform or per workspace / guild), one message per question holding the
whole conversation, edited in place, with the card's context: the voter's first name, the
masked phone, the script version, the volunteer's last outcomes. Organizers press **Reply**
(a form): the answer reaches the volunteer by DM, where their own **Reply** goes back to the
question's message. **Resolved** closes it. A question no organizer answered within
`questions.reraise_minutes` is raised once more (`reraise_questions`, a scheduler job).

Replies come through a **Reply** button and form rather than by reading thread messages: that
needs neither Slack's message events nor Discord's privileged message-content intent, and
works the same on every surface. Every send is a row of the durable outbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from handlers.alerts import alert_organizers
from handlers.batch import own_card
from handlers.campaigns import ActiveCampaign, active_campaign
from handlers.cards import NEED_HELP as NEED_HELP
from handlers.context import Context, Platform, Services
from handlers.dialing import open_voters
from handlers.masking import mask_phone, scrub_phone
from handlers.outbox import Task, outbox_handler, owe, owed
from handlers.refusal import Refusal, int_value, signed_up
from handlers.replies import Button, ButtonStyle, Fact, Form, Input, InputKind, Reply, Section, Tone
from handlers.scripts import latest_script
from matching.pool import campaign_config
from storage.db import read_session, session_scope
from storage.models import CallAttempt, Campaign, Question, QuestionReply, Role

Answers = Mapping[str, str | list[str]]

ASK = "pb:question:ask"  # the form's submit
REPLY = "pb:question:reply"  # open the reply form: value the question id
ANSWER = "pb:question:answer"  # the reply form's submit
RESOLVE = "pb:question:resolve"
POST = "question.post"  # outbox: the question's message in the channel, drawn again
TO_VOLUNTEER = "question.to_volunteer"  # outbox: an organizer's answer, by DM
BODY_LIMIT = 1000  # fits a Slack section (3,000) and a Discord message (2,000) with the context
SHOWN_REPLIES = 10  # the newest replies on the question's message
LISTED = 20
NO_CHANNEL_QUIET = timedelta(days=365)  # "alerted once" per workspace


# --- asking ---------------------------------------------------------------------------------------


def ask(ctx: Context, args: list[str]) -> Reply:
    """Ask the organizers a question: `ask TEXT`."""
    signed_up(ctx)
    body = " ".join(args).strip()
    if not body:
        raise Refusal("Write your question after the command: `/phonebank ask Where do I …?`")
    return _ask(ctx, body, {})


def need_help(ctx: Context, value: str) -> Reply:
    """Need help on a card: the question form, with the card's context kept for the question."""
    card_id = int_value(value)
    with read_session(ctx.services.engine) as session:
        own_card(session, ctx, card_id)
    form = Form(
        title="Ask an organizer",
        submit_action=ASK,
        submit_label="Ask",
        value=str(card_id),
        inputs=(Input("question", "Your question", kind=InputKind.LONG_TEXT, hint=_limit_hint()),),
    )
    return Reply(text="Ask the organizers.", form=form)


def submit_question(ctx: Context, value: str, answers: Answers) -> Reply:
    """The question form: posted with the card's context."""
    body = _text(answers, "question")
    problem = _body_problem(body)
    if problem:
        return Reply(
            text="Please fix the question.", tone=Tone.WARNING, errors={"question": problem}
        )
    context: dict[str, Any] = {}
    if value:
        with read_session(ctx.services.engine) as session:
            card, batch = own_card(session, ctx, int_value(value))
            voters = open_voters(session, card)
            names = ", ".join(dict.fromkeys(v.first_name or "(no name)" for v in voters))
            context = {"voter": names or "(closed card)", "phone": mask_phone(card.phone)}
            body = scrub_phone(body, card.phone)
    return _ask(ctx, body, context)


def _ask(ctx: Context, body: str, context: dict[str, Any]) -> Reply:
    volunteer_id = signed_up(ctx)
    problem = _body_problem(body)
    if problem:
        raise Refusal(problem)
    campaign = active_campaign(ctx)
    channel = organizers_channel(campaign, ctx.platform, ctx.workspace)
    if channel is None:
        alert_organizers(
            ctx.services,
            "questions.no_channel",
            f"A volunteer asked a question on {ctx.platform}, but the campaign file sets no"
            " organizers channel for it (questions.organizers_channels): set one so questions"
            " reach you.",
            target=f"{ctx.platform}:{ctx.workspace}",
            quiet_for=NO_CHANNEL_QUIET,
        )
        raise Refusal(
            "No organizers channel is set up here yet, so your question could not be sent;"
            " the organizers have been told. Please try again later."
        )
    services, now = ctx.services, ctx.services.clock.now()
    context = context | _volunteer_context(services, campaign, volunteer_id)
    try:
        with session_scope(services.engine) as session:
            question = Question(
                campaign_id=campaign.id,
                volunteer_id=volunteer_id,
                asker=ctx.identity,
                platform=ctx.platform,
                workspace=ctx.workspace,
                channel=channel,
                body=body,
                context=context,
                request_key=ctx.request_key,
                asked_at=now,
            )
            session.add(question)
            session.flush()
            _owe_post(session, question, now, "asked")
    except IntegrityError:  # a retried request: already asked
        return Reply(text="Your question was already sent to the organizers.")
    owed(services)
    return Reply(
        text="Your question is with the organizers; their answer comes to you here.",
        tone=Tone.SUCCESS,
    )


# --- answering ------------------------------------------------------------------------------------


def open_reply(ctx: Context, value: str) -> Reply:
    """Reply: the form for an answer (organizers) or a follow-up (the volunteer who asked)."""
    question = _question(ctx, int_value(value))
    _refuse_if_resolved(question)
    form = Form(
        title="Reply",
        submit_action=ANSWER,
        submit_label="Send",
        value=str(question.id),
        inputs=(Input("reply", "Your reply", kind=InputKind.LONG_TEXT, hint=_limit_hint()),),
    )
    return Reply(text=f"Reply to: {question.body[:200]}", form=form)


def submit_reply(ctx: Context, value: str, answers: Answers) -> Reply:
    """A reply: an organizer's goes to the volunteer by DM, the volunteer's to the channel."""
    body = _text(answers, "reply")
    problem = _body_problem(body)
    if problem:
        return Reply(text="Please fix the reply.", tone=Tone.WARNING, errors={"reply": problem})
    services, now = ctx.services, ctx.services.clock.now()
    from_organizer = ctx.has_role(Role.ORGANIZER)
    with session_scope(services.engine) as session:
        question = _question(ctx, int_value(value), session)
        _refuse_if_resolved(question)
        reply = QuestionReply(
            question_id=int(question.id or 0),
            author=ctx.identity,
            from_organizer=from_organizer,
            body=body,
            at=now,
        )
        session.add(reply)
        session.flush()
        if from_organizer and question.asker != ctx.identity:
            question.status, question.answered_at = "answered", question.answered_at or now
            session.add(question)
            owe(
                session.connection(),
                TO_VOLUNTEER,
                {"question_id": question.id, "reply_id": reply.id},
                key=f"question:{question.id}:dm:{reply.id}",
                now=now,
            )
        _owe_post(session, question, now, f"reply:{reply.id}")
    owed(services)
    told = "the volunteer" if from_organizer else "the organizers"
    return Reply(text=f"Sent to {told}.", tone=Tone.SUCCESS)


def resolve(ctx: Context, value: str) -> Reply:
    """Resolved: the question is closed, and the volunteer told."""
    services, now = ctx.services, ctx.services.clock.now()
    with session_scope(services.engine) as session:
        question = _question(ctx, int_value(value), session)
        if question.status == "resolved":
            return Reply(text=f"Already resolved by {question.resolved_by}.")
        question.status, question.resolved_at, question.resolved_by = "resolved", now, ctx.identity
        session.add(question)
        _owe_post(session, question, now, "resolved")
        if question.asker != ctx.identity:
            owe(
                session.connection(),
                TO_VOLUNTEER,
                {"question_id": question.id, "reply_id": None},
                key=f"question:{question.id}:dm:resolved",
                now=now,
            )
    owed(services)
    return Reply(text="Marked resolved.", tone=Tone.SUCCESS)


def list_questions(ctx: Context, args: list[str]) -> Reply:
    """Questions from volunteers still open, oldest first."""
    campaign = active_campaign(ctx)
    with read_session(ctx.services.engine) as session:
        questions = session.exec(
            select(Question)
            .where(col(Question.campaign_id) == campaign.id, col(Question.status) != "resolved")
            .order_by(col(Question.asked_at))
            .limit(LISTED)
        ).all()
        sections = tuple(_question_section(session, q, with_buttons=True) for q in questions)
    text = f"{len(sections)} open questions." if sections else "No open questions."
    return Reply(text=text, sections=sections, update_key="questions")


def reraise_questions(services: Services) -> int:
    """Raise once more each question no organizer answered within the campaign's minutes (a
    scheduler job); how many."""
    now = services.clock.now()
    raised = 0
    with session_scope(services.engine) as session:
        waiting = session.exec(
            select(Question, Campaign)
            .join(Campaign, col(Campaign.id) == col(Question.campaign_id))
            .where(col(Question.status) == "open", col(Question.reraised_at).is_(None))
        ).all()
        for question, campaign in waiting:
            minutes = campaign_config(campaign.config).questions.reraise_minutes
            if question.asked_at > now - timedelta(minutes=minutes):
                continue
            question.reraised_at = now
            session.add(question)
            owe(
                session.connection(),
                POST,
                {"question_id": question.id, "again": True},
                key=f"question:{question.id}:reraise",
                now=now,
            )
            raised += 1
    if raised:
        owed(services)
    return raised


# --- delivery -------------------------------------------------------------------------------------


@outbox_handler(POST)
def post_question(services: Services, task: Task) -> None:
    """The question's message in the organizers' channel, with the conversation so far (edited
    in place); re-raised, a new message saying it still waits."""
    with read_session(services.engine) as session:
        question = session.get(Question, int(task.payload["question_id"]))
        if question is None:
            return
        section = _question_section(session, question, with_buttons=question.status != "resolved")
    again = bool(task.payload.get("again"))
    text = "Still waiting for an answer:" if again else "A volunteer asks:"
    reply = Reply(
        text=text,
        sections=(section,),
        ephemeral=False,
        update_key=None if again else f"question:{question.id}",
    )
    services.notifier.to_channel(Platform(question.platform), question.channel, reply)


@outbox_handler(TO_VOLUNTEER)
def tell_volunteer(services: Services, task: Task) -> None:
    """An organizer's answer (or the question resolved), by DM, with Reply while it is open."""
    with read_session(services.engine) as session:
        question = session.get(Question, int(task.payload["question_id"]))
        if question is None or question.volunteer_id is None:
            return
        reply_id = task.payload.get("reply_id")
        answer = session.get(QuestionReply, int(reply_id)) if reply_id else None
    if answer is None:
        reply = Reply(text=f"Your question was marked resolved: “{question.body[:200]}”")
    else:
        buttons: tuple[Button, ...] = ()
        if question.status != "resolved":
            buttons = (
                Button("Reply", REPLY, str(question.id)),
                Button("Resolved", RESOLVE, str(question.id), ButtonStyle.PRIMARY),
            )
        reply = Reply(
            text=f"An organizer answered your question “{question.body[:200]}”:",
            sections=(Section(answer.body, buttons=buttons),),
            ephemeral=False,
        )
    services.notifier.to_volunteer(question.volunteer_id, reply)


# --- helpers --------------------------------------------------------------------------------------


def organizers_channel(campaign: ActiveCampaign, platform: Platform, workspace: str) -> str | None:
    """The organizers' channel for this workspace (or for the whole platform), if set."""
    channels = campaign.config.questions.organizers_channels
    return channels.get(f"{platform}:{workspace}") or channels.get(str(platform))


def _volunteer_context(
    services: Services, campaign: ActiveCampaign, volunteer_id: int
) -> dict[str, Any]:
    with read_session(services.engine) as session:
        published = latest_script(session.connection(), campaign.id)
        codes = session.exec(
            select(CallAttempt.result_code)
            .where(
                col(CallAttempt.volunteer_id) == volunteer_id,
                col(CallAttempt.result_code).is_not(None),
            )
            .order_by(col(CallAttempt.logged_at).desc(), col(CallAttempt.id).desc())
            .limit(3)
        ).all()
    labels = []
    for code in codes:
        known = campaign.config.result_code(code or "")
        labels.append(known.label if known else str(code))
    return {
        "script_version": published.version if published else 1,
        "last_outcomes": labels,
    }


def _question_section(session: Session, question: Question, *, with_buttons: bool) -> Section:
    replies = session.exec(
        select(QuestionReply)
        .where(col(QuestionReply.question_id) == question.id)
        .order_by(col(QuestionReply.id).desc())
        .limit(SHOWN_REPLIES)
    ).all()
    lines = [f"*{question.body}*"]
    lines += [
        f"{'Organizer' if r.from_organizer else 'Volunteer'} ({r.author}): {r.body}"
        for r in reversed(replies)
    ]
    if question.status == "resolved":
        lines.append(f"Resolved by {question.resolved_by}.")
    context = question.context
    facts = [Fact("From", question.asker), Fact("Status", question.status)]
    if context.get("voter"):
        facts += [
            Fact("Voter", str(context["voter"])),
            Fact("Phone", str(context.get("phone", ""))),
        ]
    facts.append(Fact("Script", f"version {context.get('script_version', 1)}"))
    if context.get("last_outcomes"):
        facts.append(Fact("Last outcomes", ", ".join(context["last_outcomes"])))
    buttons: tuple[Button, ...] = ()
    if with_buttons:
        buttons = (
            Button("Reply", REPLY, str(question.id), ButtonStyle.PRIMARY),
            Button("Resolved", RESOLVE, str(question.id)),
        )
    return Section("\n".join(lines), facts=tuple(facts), buttons=buttons)


def _question(ctx: Context, question_id: int, session: Session | None = None) -> Question:
    """The question, if the asker is an organizer or the volunteer who asked it."""
    if session is None:
        with read_session(ctx.services.engine) as reading:
            return _question(ctx, question_id, reading)
    question = session.get(Question, question_id)
    if question is None:
        raise Refusal("That question no longer exists.")
    if question.asker != ctx.identity and not ctx.has_role(Role.ORGANIZER):
        raise Refusal("Only organizers and the volunteer who asked can reply to a question.")
    return question


def _refuse_if_resolved(question: Question) -> None:
    if question.status == "resolved":
        raise Refusal(
            f"That question was resolved by {question.resolved_by}; nothing was sent."
            " Ask a new one with `/phonebank ask`."
        )


def _owe_post(session: Session, question: Question, now: datetime, why: str) -> None:
    owe(
        session.connection(),
        POST,
        {"question_id": question.id},
        key=f"question:{question.id}:post:{why}",
        now=now,
    )


def _body_problem(body: str) -> str | None:
    if not body:
        return "Write something first: it cannot be empty."
    if len(body) > BODY_LIMIT:
        return (
            f"At most {BODY_LIMIT:,} characters (it must fit one message on every platform);"
            f" this has {len(body):,}."
        )
    return None


def _limit_hint() -> str:
    return f"At most {BODY_LIMIT:,} characters."


def _text(answers: Answers, key: str) -> str:
    value = answers.get(key)
    return value.strip() if isinstance(value, str) else ""
