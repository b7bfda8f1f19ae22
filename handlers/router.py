"""Every way into the core: a command, a button, a submitted form. The one place roles are checked.

Adapters call these three functions and render the `Reply`:

- `handle_command(ctx, text)`: the text after `/phonebank` ("batch", "campaign use demo");
- `handle_action(ctx, action_id, value)`: a button, action ids `pb:<capability>:<verb>`;
- `handle_form(ctx, action_id, value, answers)`: a submitted `Form` (answers by input id; a
  choice is its option's value, several choices a list, a consent box "yes" or "no"). Invalid
  answers come back as `Reply.errors` by input id, for the adapter to show on the form.

A command declares the role it needs; help lists only what the asker's roles allow, each
command described by its handler's docstring. A handler that refuses raises `Refusal`; anything
else that goes wrong is logged and answered with an apology, never a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from handlers import (
    batch,
    broadcast_publish,
    broadcasts,
    calls,
    campaigns,
    cards,
    dashboard,
    goals,
    leaderboard,
    outcome,
    outcome_edit,
    practice,
    questions,
    review,
    roles,
    script_versions,
    shift_jobs,
    shifts,
    signup,
    sms_review,
    softphone,
    stats,
    survey,
    training,
    verification,
    volunteers,
)
from handlers.context import Context
from handlers.help import HelpEntry, help_reply, summary_of
from handlers.refusal import Refusal
from handlers.replies import Reply, problem
from storage.models import Role

log = logging.getLogger(__name__)

Answers = Mapping[str, str | list[str]]
CommandRun = Callable[[Context, list[str]], Reply]
ActionRun = Callable[[Context, str], Reply]
FormRun = Callable[[Context, str, Answers], Reply]

ROLE_NAMES = {Role.ORGANIZER: "organizers", Role.COORDINATOR: "coordinators", Role.ADMIN: "admins"}
SORRY = "Something went wrong on our side; please try again in a moment."


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]
    run: CommandRun
    role: Role = Role.VOLUNTEER
    arguments: str = ""  # how the arguments read in help: "SLUG"

    @property
    def name(self) -> str:
        return " ".join(self.words)

    @property
    def help(self) -> HelpEntry:
        usage = f"{self.name} {self.arguments}".strip()
        return HelpEntry(usage, summary_of(self.run.__doc__))


@dataclass(frozen=True)
class Action:
    run: ActionRun
    role: Role = Role.VOLUNTEER


@dataclass(frozen=True)
class FormHandler:
    run: FormRun
    role: Role = Role.VOLUNTEER


def show_help(ctx: Context, args: list[str]) -> Reply:
    """What you can do here."""
    return help_reply(ctx, visible_commands(ctx))


COMMANDS: tuple[Command, ...] = (
    Command(("signup",), signup.signup),
    Command(("verify",), verification.verify, arguments="CODE | resend"),
    Command(("softphone",), softphone.softphone, arguments="[off]"),
    Command(("batch",), batch.take_batch),
    Command(("train",), training.train),
    Command(("practice",), practice.practice),
    Command(("stats",), stats.stats),
    Command(("outcomes",), outcome_edit.list_outcomes, arguments="[@someone]"),
    Command(("shifts",), shifts.list_shifts),
    Command(("shift", "add"), shifts.add_shift, Role.ORGANIZER, "DATE HH:MM-HH:MM [--capacity N]"),
    Command(("shift", "edit"), shifts.edit_shift, Role.ORGANIZER, "ID [DATE] [HH:MM-HH:MM] ..."),
    Command(("shift", "cancel"), shifts.cancel_shift, Role.ORGANIZER, "ID"),
    Command(
        ("leaderboard",),
        leaderboard.leaderboard,
        arguments="[today|week|all] [by METRIC] [teams|areas]",
    ),
    Command(("leaderboard", "hide"), leaderboard.hide),
    Command(("leaderboard", "show"), leaderboard.show),
    Command(("goals",), goals.show_goals),
    Command(("dashboard",), dashboard.dashboard, Role.COORDINATOR),
    Command(
        ("goal", "set"),
        goals.set_goal,
        Role.COORDINATOR,
        "METRIC TARGET [--area 512|--state TX|--language es|--team NAME] [--by YYYY-MM-DD]",
    ),
    Command(("campaign",), campaigns.show_campaign),
    Command(("campaign", "use"), campaigns.use_campaign, Role.ORGANIZER, "SLUG"),
    Command(("sms", "review"), sms_review.review_texts, Role.ORGANIZER),
    Command(("review",), review.review_outcomes, Role.ORGANIZER),
    Command(("volunteer", "certify"), volunteers.certify, Role.ORGANIZER, "NAME"),
    Command(("volunteer", "suspend"), volunteers.suspend, Role.ORGANIZER, "NAME"),
    Command(("volunteer", "reinstate"), volunteers.reinstate, Role.ORGANIZER, "NAME"),
    Command(("broadcast",), broadcasts.open_broadcast, Role.ORGANIZER),
    Command(("broadcasts",), broadcasts.list_broadcasts, Role.ORGANIZER),
    Command(("ask",), questions.ask, arguments="TEXT"),
    Command(("questions",), questions.list_questions, Role.ORGANIZER),
    Command(("script", "history"), script_versions.history, Role.ORGANIZER),
    Command(("script", "diff"), script_versions.diff, Role.ORGANIZER, "A B"),
    Command(("script", "revert"), script_versions.revert, Role.ORGANIZER, "N"),
    Command(("role", "grant"), roles.grant, Role.ADMIN, "@someone ROLE"),
    Command(("role", "revoke"), roles.revoke, Role.ADMIN, "@someone ROLE"),
    Command(("help",), show_help),
)
ACTIONS: dict[str, Action] = {
    "pb:signup:open": Action(signup.open_signup),
    "pb:batch:claim": Action(batch.claim),
    "pb:batch:release": Action(batch.release),
    shifts.SIGN_UP: Action(shifts.sign_up_for_shift),
    shift_jobs.LEAVE: Action(shifts.leave_shift),
    shift_jobs.CONFIRM: Action(shifts.confirm_shift),
    training.START: Action(training.start),
    training.PAGE: Action(training.page),
    training.QUIZ: Action(training.quiz),
    training.ANSWER: Action(training.answer),
    training.FINISH: Action(training.finish),
    practice.START: Action(practice.start),
    practice.CALL: Action(practice.call),
    practice.LOG: Action(practice.log),
    practice.END: Action(practice.end),
    "pb:card:call": Action(calls.call),
    "pb:card:next": Action(calls.next_call),
    "pb:card:skip": Action(batch.skip),
    "pb:card:outcome": Action(outcome.open_outcome),
    outcome_edit.EDIT: Action(outcome_edit.open_edit),
    cards.SURVEY: Action(survey.open_survey),
    cards.VOICEMAIL: Action(calls.leave_voicemail),
    sms_review.REVIEWED: Action(sms_review.mark_reviewed, Role.ORGANIZER),
    sms_review.OPT_OUT: Action(sms_review.opt_out_sender, Role.ORGANIZER),
    review.APPROVE: Action(review.approve, Role.ORGANIZER),
    review.REJECT: Action(review.reject, Role.ORGANIZER),
    broadcasts.APPROVE: Action(broadcasts.approve, Role.ORGANIZER),
    broadcast_publish.ACK: Action(broadcasts.acknowledge),
    questions.NEED_HELP: Action(questions.need_help),
    questions.REPLY: Action(questions.open_reply),
    questions.RESOLVE: Action(questions.resolve),
}
FORMS: dict[str, FormHandler] = {
    signup.SUBMIT: FormHandler(signup.submit_signup),
    outcome.SUBMIT: FormHandler(outcome.submit_outcome),
    survey.SUBMIT: FormHandler(survey.submit_survey),
    outcome_edit.SUBMIT: FormHandler(outcome_edit.submit_edit),
    broadcasts.SUBMIT: FormHandler(broadcasts.submit_broadcast, Role.ORGANIZER),
    questions.ASK: FormHandler(questions.submit_question),
    questions.ANSWER: FormHandler(questions.submit_reply),
}


def handle_command(ctx: Context, text: str) -> Reply:
    """`/phonebank <text>`: run the command it names, or say which commands there are."""
    words = text.split()
    if not words:
        return _guarded(ctx, "help", lambda: show_help(ctx, []))
    command = find_command(words)
    if command is None:
        return help_reply(ctx, visible_commands(ctx), intro=f"I don't know `{text.strip()}`.")
    args = words[len(command.words) :]
    return _guarded(
        ctx,
        command.name,
        lambda: _allowed(ctx, command.role, command.name) or command.run(ctx, args),
    )


def handle_action(ctx: Context, action_id: str, value: str) -> Reply:
    """A button press."""
    action = ACTIONS.get(action_id)
    if action is None:
        return problem("That button is from an older version of Phonebank; ask again.")
    return _guarded(
        ctx, action_id, lambda: _allowed(ctx, action.role, action_id) or action.run(ctx, value)
    )


def handle_form(ctx: Context, action_id: str, value: str, answers: Answers) -> Reply:
    """A submitted form."""
    form = FORMS.get(action_id)
    if form is None:
        return problem("That form is from an older version of Phonebank; open it again.")
    return _guarded(
        ctx, action_id, lambda: _allowed(ctx, form.role, action_id) or form.run(ctx, value, answers)
    )


def find_command(words: list[str]) -> Command | None:
    """The command with the longest name that `words` start with."""
    lowered = [word.lower() for word in words]
    matches = [c for c in COMMANDS if lowered[: len(c.words)] == list(c.words)]
    return max(matches, key=lambda c: len(c.words), default=None)


def visible_commands(ctx: Context) -> list[HelpEntry]:
    """Help entries for the commands the asker's roles allow."""
    return [command.help for command in COMMANDS if _permits(ctx, command.role)]


def _allowed(ctx: Context, role: Role, what: str) -> Reply | None:
    """None when the asker holds `role`; else the refusal."""
    if _permits(ctx, role):
        return None
    return problem(f"Only {ROLE_NAMES.get(role, role)} can use `{what}`.")


def _permits(ctx: Context, role: Role) -> bool:
    """Everyone who speaks to Phonebank is a volunteer; other roles are granted."""
    return role is Role.VOLUNTEER or ctx.has_role(role)


def _guarded(ctx: Context, what: str, work: Callable[[], Reply]) -> Reply:
    try:
        return work()
    except Refusal as refusal:
        return refusal.reply
    except Exception:
        log.exception("%s failed for %s", what, ctx.identity)
        return problem(SORRY)
