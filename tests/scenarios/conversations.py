"""Conversations, written once, run on every chat surface (see driver.py for the interface).

Each is a plain function of a `World` (the database) and a `Surface` (the platform). They read
as what a volunteer or an organizer types and sees, then check what the database holds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from tests.scenarios.broadcast_conversations import BROADCAST_SCENARIOS
from tests.scenarios.driver import Driver, Surface
from tests.scenarios.shift_conversations import SHIFT_SCENARIOS
from tests.scenarios.world import World, voter

Scenario = Callable[[World, Surface], None]
ANA_PHONE = "(512) 555-0142"
BOB_PHONE = "(512) 555-0143"


def sign_up(world: World, user: Driver, phone: str, languages: list[str] | None = None) -> None:
    """The signup form, filled in the common way, then the phone verified with its code."""
    assert user.command("signup").form is not None
    done = user.fill(
        {
            "name": user.name.title(),
            "phone": phone,
            "languages": languages or ["English"],
            "sms_consent": True,
        }
    )
    assert not done.errors, done.errors
    assert done.has("signed up", "texted you a 6-digit code"), done.text
    assert user.command(f"verify {world.texted_code()}").has("phone is verified")


# --- the whole flow -----------------------------------------------------------------------------


def a_volunteer_signs_up_calls_and_logs_an_outcome(world: World, surface: Surface) -> None:
    """Signup, a batch with scripts in the voter's language, a call, an outcome with survey
    answers that updates the card, then the stats."""
    world.campaign([voter("Maria", 1, language="es"), voter("Dave", 2)])
    ana = surface.user("ana")

    assert "Sign up" in ana.command("help").buttons
    assert ana.press("Sign up").form is not None
    done = ana.fill(
        {
            "name": "Ana Lopez",
            "phone": ANA_PHONE,
            "languages": ["English", "Spanish"],
            "sms_consent": True,
        }
    )
    assert done.has("signed up, Ana", "texted you a 6-digit code") and not done.errors
    [profile] = world.rows("SELECT * FROM volunteer")
    assert (profile.phone, profile.area_code, profile.sms_consent) == ("+15125550142", "512", True)

    # Calls ring only a proven phone: no batch until the texted code comes back.
    early = ana.command("batch")
    assert early.refused and early.has("not verified yet", "verify CODE", "verify resend")
    assert world.rows("SELECT id FROM batch") == []
    assert ana.command(f"verify {world.texted_code('+15125550142')}").has("phone is verified")

    batch = ana.command("batch")
    assert batch.has("Maria", "Dave", "(512) •••-••01", "Spanish", "same area code 512")
    assert batch.has("Hola Maria, soy Ana Lopez. Vote en Maria's School.")
    assert batch.has("Hi Dave, I'm Ana Lopez. Your polling place is Dave's School.")
    assert batch.buttons.count("Call") == 2 and "I'm done" in batch.buttons

    assert ana.press("Call", near="Maria").has("Calling", "Maria")
    [attempt] = world.rows("SELECT * FROM call_attempt")
    assert attempt.call_sid and attempt.result_code is None

    form = ana.press("Log outcome", near="Maria").form
    assert form is not None and {"result", "survey:support", "notes"} <= set(form.inputs)
    logged = ana.fill({"result": "Talked to voter", "survey:support": "yes", "notes": "Warm."})
    assert logged.has("Logged for Maria: Talked to voter") and not logged.refused
    assert logged.buttons.count("Call") == 1  # Maria's card is closed, Dave's is open

    [attempt] = world.rows("SELECT * FROM call_attempt")
    assert (attempt.result_code, attempt.notes) == ("talked", "Warm.")
    assert "yes" in str(attempt.survey)

    stats = ana.command("stats")
    assert stats.has("Dials: 1 today, 1 this week", "Contacts: 1 today", "Survey answers: 1 today")


# --- signup ---------------------------------------------------------------------------------


def a_malformed_phone_is_refused_on_the_form(world: World, surface: Surface) -> None:
    """The form comes back with the problem on the phone input; fixing it signs up."""
    ana = surface.user("ana")
    ana.command("signup")
    wrong = ana.fill({"name": "Ana", "phone": "555-01", "languages": ["English"]})
    assert "phone" in wrong.errors and "not a phone number" in wrong.errors["phone"]
    assert world.rows("SELECT id FROM volunteer") == []
    fixed = ana.fill({"phone": ANA_PHONE})
    assert not fixed.errors and fixed.has("signed up")


def signing_up_again_edits_the_profile(world: World, surface: Surface) -> None:
    """The second signup starts from the saved answers and changes only what is typed."""
    ana = surface.user("ana")
    sign_up(world, ana, ANA_PHONE)
    again = ana.command("signup")
    assert again.has("Edit your profile")
    edited = ana.fill({"languages": ["English", "Vietnamese"], "area_code": "737"})
    assert edited.has("Saved your profile") and not edited.errors
    [profile] = world.rows("SELECT * FROM volunteer")
    assert (profile.name, profile.area_code) == ("Ana", "737")
    assert "vi" in str(profile.languages)


def a_phone_someone_else_holds_reveals_nothing_and_rings_nothing(
    world: World, surface: Surface
) -> None:
    """Bob types Ana's phone: the reply is a signup like any other (nothing says the phone is
    a volunteer's), the code goes to Ana's phone, Ana's record is untouched, and Bob gets no
    batch until he types a code he never received."""
    world.campaign([voter("Maria", 1)])
    sign_up(world, surface.user("ana"), ANA_PHONE)
    bob = surface.user("bob")
    bob.command("signup")
    taken = bob.fill({"name": "Bob", "phone": ANA_PHONE, "languages": ["English"]})
    assert not taken.errors and taken.has("signed up, Bob", "texted you a 6-digit code")
    assert not taken.has("linked") and not taken.has("volunteer list")
    code = world.texted_code("+15125550142")
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    assert bob.command(f"verify {wrong}").has("not right")
    refused = bob.command("batch")
    assert refused.refused and refused.has("not verified yet")
    assert world.rows("SELECT id FROM batch") == []
    rows = world.rows("SELECT name, phone, phone_verified_at FROM volunteer ORDER BY id")
    assert [(r.name, r.phone) for r in rows] == [("Ana", "+15125550142"), ("Bob", None)]
    assert rows[0].phone_verified_at is not None


def an_imported_recruit_is_theirs_only_after_the_code(world: World, surface: Surface) -> None:
    """A recruit from the imported list: a stranger who types their phone gets nothing of the
    record; the recruit who types it and then its code keeps their record (and email)."""
    recruit_id = world.recruit(name="Ana L.", phone="+15125550142", email="ana@example.org")
    eve = surface.user("eve")
    eve.command("signup")
    stranger = eve.fill({"name": "Eve", "phone": ANA_PHONE, "languages": ["English"]})
    assert stranger.has("signed up, Eve") and not stranger.has("volunteer list")
    assert (
        world.rows("SELECT volunteer_id FROM chat_identity WHERE volunteer_id = :id", id=recruit_id)
        == []
    )
    [recruit] = world.rows(
        "SELECT name, phone_verified_at FROM volunteer WHERE id = :id", id=recruit_id
    )
    assert (recruit.name, recruit.phone_verified_at) == ("Ana L.", None)

    sign_up(world, surface.user("ana"), ANA_PHONE)
    [linked] = world.rows(
        "SELECT v.id, v.name, v.email, v.phone_verified_at FROM volunteer v"
        " JOIN chat_identity c ON c.volunteer_id = v.id WHERE v.phone = '+15125550142'"
    )
    assert (linked.id, linked.name, linked.email) == (recruit_id, "Ana", "ana@example.org")
    assert linked.phone_verified_at is not None
    assert [r.name for r in world.rows("SELECT name FROM volunteer ORDER BY id")] == ["Ana", "Eve"]


# --- asking for a batch ---------------------------------------------------------------------


def no_batch_before_signup(world: World, surface: Surface) -> None:
    """A volunteer who has not signed up is offered the signup form instead."""
    world.campaign([voter("Maria", 1)])
    refused = surface.user("ana").command("batch")
    assert refused.refused and refused.has("Sign up first") and "Sign up" in refused.buttons
    assert world.rows("SELECT id FROM batch") == []


def an_unknown_subcommand_lists_the_commands(world: World, surface: Surface) -> None:
    """The reply names what was not understood and lists what can be done."""
    shown = surface.user("ana").command("dance")
    assert shown.refused and shown.has("don't know", "dance", "batch", "signup", "stats")


def help_lists_only_what_the_role_allows(world: World, surface: Surface) -> None:
    """Volunteers do not see organizer or admin commands; organizers see theirs."""
    volunteer = surface.user("ana").command("help")
    assert volunteer.has("batch") and not volunteer.has("campaign use")
    assert not volunteer.has("role grant")
    organizer = surface.user("olga", organizer=True).command("help")
    assert organizer.has("campaign use") and not organizer.has("role grant")


# --- cards --------------------------------------------------------------------------------------


def an_invalid_outcome_combination_is_refused(world: World, surface: Surface) -> None:
    """Survey answers with "Not home" are refused on the survey input, with the reason."""
    world.campaign([voter("Maria", 1)])
    ana = surface.user("ana")
    sign_up(world, ana, ANA_PHONE)
    ana.command("batch")
    ana.press("Log outcome", near="Maria")
    wrong = ana.fill({"result": "Not home", "survey:support": "yes"})
    assert "Talked to voter" in wrong.errors.get("survey:support", "")
    assert world.rows("SELECT id FROM call_attempt") == []
    fixed = ana.fill({"survey:support": ""})
    assert fixed.has("Logged for Maria: Not home")
    [attempt] = world.rows("SELECT result_code FROM call_attempt")
    assert attempt.result_code == "not_home"


def a_language_barrier_needs_the_language_heard(world: World, surface: Surface) -> None:
    """The voter is re-routed to a speaker of the language heard."""
    world.campaign([voter("Minh", 1)])
    ana = surface.user("ana")
    sign_up(world, ana, ANA_PHONE)
    ana.command("batch")
    ana.press("Call", near="Minh")
    ana.press("Log outcome", near="Minh")
    missing = ana.fill({"result": "Language barrier"})
    assert "language_heard" in missing.errors
    logged = ana.fill({"language_heard": "Vietnamese"})
    assert logged.has("Logged for Minh: Language barrier")
    [row] = world.rows("SELECT language, batch_id FROM voter")
    assert (row.language, row.batch_id) == ("vi", None)


def a_household_outcome_asks_who_answered(world: World, surface: Surface) -> None:
    """Two voters on one phone share a card; the outcome names which one was reached."""
    world.campaign([voter("Maria", 1), voter("José", 1)])
    ana = surface.user("ana")
    sign_up(world, ana, ANA_PHONE)
    assert ana.command("batch").has("Maria and José")
    ana.press("Call", near="Maria")
    form = ana.press("Log outcome", near="Maria").form
    assert form is not None and "voter" in form.inputs
    assert ana.fill({"voter": "José", "result": "Refused"}).has("Logged for José: Refused")
    form = ana.press("Log outcome", near="Maria").form  # Maria is still to be logged
    assert form is not None and "voter" not in form.inputs


def skip_and_done_return_voters_to_the_list(world: World, surface: Surface) -> None:
    """Skip returns one card's voters, "I'm done" the rest; no attempt is counted."""
    world.campaign([voter("Maria", 1), voter("Dave", 2)])
    ana = surface.user("ana")
    sign_up(world, ana, ANA_PHONE)
    ana.command("batch")
    assert ana.press("Skip", near="Maria").has("Skipped")
    done = ana.press("I'm done")
    assert done.has("1 voter went back") and "Get a batch" in done.buttons
    assert world.rows("SELECT id FROM voter WHERE batch_id IS NOT NULL") == []
    assert world.rows("SELECT id FROM call_attempt") == []
    assert [r.attempts for r in world.rows("SELECT attempts FROM voter")] == [0, 0]


def an_outcome_for_someone_elses_batch_is_refused(world: World, surface: Surface) -> None:
    """Bob presses the buttons of Ana's card (a forwarded message): refused, nothing stored."""
    world.campaign([voter("Maria", 1)])
    ana, bob = surface.user("ana"), surface.user("bob")
    sign_up(world, ana, ANA_PHONE)
    sign_up(world, bob, BOB_PHONE)
    ana.command("batch")
    for label in ("Log outcome", "Call", "Skip"):
        refused = bob.press(label, near="Maria", seen_by=ana)
        assert refused.refused and refused.has("another volunteer"), (label, refused.text)
    assert world.rows("SELECT id FROM call_attempt") == []
    assert len(world.rows("SELECT id FROM batch_card WHERE released_at IS NULL")) == 1


# --- outcomes need a call ------------------------------------------------------------------


def an_uncalled_card_cannot_poison_the_lists(world: World, surface: Surface) -> None:
    """ "Do not call" and invented survey answers on a card nobody called are refused and change
    nothing; once the card is called, the same result is logged."""
    world.campaign([voter("Maria", 1)])
    ana = surface.user("ana")
    sign_up(world, ana, ANA_PHONE)
    ana.command("batch")

    ana.press("Log outcome", near="Maria")
    refused = ana.fill({"result": "Asked not to be called"})
    assert refused.refused and refused.has("Nobody was called", "press Call first"), refused.text
    ana.command("batch")
    ana.press("Log outcome", near="Maria")
    invented = ana.fill({"result": "Talked to voter", "survey:support": "yes"})
    assert invented.refused and invented.has("Nobody was called"), invented.text
    assert world.rows("SELECT id FROM dnc_entry") == []
    assert world.rows("SELECT id FROM call_attempt") == []
    [maria] = world.rows("SELECT status, attempts, batch_id FROM voter")
    assert (maria.status, maria.attempts) == ("ready", 0) and maria.batch_id is not None

    ana.command("batch")
    assert ana.press("Call", near="Maria").has("Calling")
    ana.press("Log outcome", near="Maria")
    logged = ana.fill({"result": "Asked not to be called"})
    assert logged.has("do-not-call list") and not logged.refused, logged.text
    assert [row.phone for row in world.rows("SELECT phone FROM dnc_entry")] == ["+15125550201"]


def a_manual_dial_result_waits_for_an_organizer(world: World, surface: Surface) -> None:
    """With manual dialing, a volunteer's "Do not call" with no call through Phonebank goes to
    the organizers' review: approved, it reaches the list; rejected, the voter goes back."""
    world.campaign([voter("Maria", 1), voter("Dave", 2)], manual_dialing=True)
    ana = surface.user("ana")
    sign_up(world, ana, ANA_PHONE)
    ana.command("batch")
    ana.press("Log outcome", near="Maria")
    held = ana.fill({"result": "Asked not to be called", "notes": "Take me off, she said."})
    assert held.has("Sent to the organizers for review") and not held.refused, held.text
    ana.press("Log outcome", near="Dave")
    assert ana.fill({"result": "Refused"}).has("Sent to the organizers for review")
    assert world.rows("SELECT id FROM dnc_entry") == []
    statuses = world.rows("SELECT status, batch_id FROM voter ORDER BY id")
    assert [(row.status, row.batch_id) for row in statuses] == [("review", None)] * 2
    assert ana.command("review").has("Only organizers")

    olga = surface.user("olga", organizer=True)
    queue = olga.command("review")
    assert queue.has("Asked not to be called", "Maria", "Take me off", "Refused", "Dave")
    assert queue.buttons.count("Approve") == 2
    approved = olga.press("Approve", near="Maria")
    assert approved.has("Approved", "do-not-call list") and not approved.refused, approved.text
    assert [row.phone for row in world.rows("SELECT phone FROM dnc_entry")] == ["+15125550201"]
    rejected = olga.press("Reject", near="Dave")
    assert rejected.has("Rejected", "No outcomes are waiting"), rejected.text

    rows = world.rows("SELECT first_name, status, attempts FROM voter ORDER BY id")
    assert [(r.first_name, r.status, r.attempts) for r in rows] == [
        ("Maria", "done", 1),
        ("Dave", "ready", 0),
    ]
    audits = world.rows(
        "SELECT actor, action FROM audit_log WHERE action LIKE 'outcome.review.%' ORDER BY id"
    )
    assert [a.action for a in audits] == ["outcome.review.approve", "outcome.review.reject"]
    assert all(a.actor.partition(":")[2] in surface.mention("olga") for a in audits)


def an_outcome_is_its_loggers_to_edit_for_a_while(world: World, surface: Surface) -> None:
    """The logger changes survey answers within the campaign's 10 minutes; after that they are
    refused and an organizer's change is saved; every change is audited."""
    world.campaign([voter("Maria", 1)])
    ana = surface.user("ana")
    sign_up(world, ana, ANA_PHONE)
    ana.command("batch")
    ana.press("Call", near="Maria")
    ana.press("Log outcome", near="Maria")
    ana.fill({"result": "Talked to voter", "survey:support": "yes"})

    listed = ana.command("outcomes")
    assert listed.has("Talked to voter", "Maria", "support: yes") and "Edit" in listed.buttons
    assert ana.press("Edit", near="Maria").form is not None
    assert ana.fill({"survey:support": "undecided"}).has("Saved the changes")

    world.clock.advance(timedelta(minutes=9))
    ana.command("outcomes")
    assert ana.press("Edit", near="Maria").form is not None
    world.clock.advance(timedelta(minutes=2))  # the window closes while the form is open
    late = ana.fill({"survey:support": "no"})
    assert late.refused and late.has("ask an organizer"), late.text
    ana.command("outcomes")
    again = ana.press("Edit", near="Maria")
    assert again.refused and again.form is None and again.has("10 minutes")
    assert "undecided" in str(world.rows("SELECT survey FROM call_attempt")[0].survey)

    olga = surface.user("olga", organizer=True)
    assert olga.command(f"outcomes {surface.mention('ana')}").has("Maria", "support: undecided")
    assert olga.press("Edit", near="Maria").form is not None
    assert olga.fill({"survey:support": "no", "notes": "Fixed on request."}).has("Saved")
    [attempt] = world.rows("SELECT survey, notes FROM call_attempt")
    assert '"no"' in str(attempt.survey).replace("'", '"') and attempt.notes == "Fixed on request."
    audits = world.rows("SELECT actor, detail FROM audit_log WHERE action = 'outcome.edit'")
    assert len(audits) == 2 and audits[1].actor.partition(":")[2] in surface.mention("olga")
    assert "undecided" in str(audits[1].detail)  # what it was before


# --- organizers and admins ---------------------------------------------------------------


def an_organizer_chooses_the_campaign(world: World, surface: Surface) -> None:
    """With two campaigns, volunteers wait until an organizer picks one for the workspace."""
    world.campaign([voter("Maria", 1)], slug="austin", name="Austin GOTV")
    world.campaign([voter("Dave", 2)], slug="dallas", name="Dallas GOTV")
    ana = surface.user("ana")
    sign_up(world, ana, ANA_PHONE)
    assert ana.command("batch").has("ask an organizer")
    olga = surface.user("olga", organizer=True)
    assert olga.command("campaign").has("campaign use SLUG", "austin", "dallas")
    assert ana.command("campaign use dallas").has("Only organizers")
    assert olga.command("campaign use dallas").has("now calls for Dallas GOTV")
    assert ana.command("batch").has("Dave")


def an_admin_grants_the_organizer_role(world: World, surface: Surface) -> None:
    """Only admins ("root") grant roles; the grant shows in help and in the audit log."""
    bob = surface.user("bob")
    bob.command("help")  # Bob has spoken to Phonebank once
    assert bob.command(f"role grant {surface.mention('bob')} organizer").has("Only admins")
    root = surface.user("root")
    granted = root.command(f"role grant {surface.mention('bob')} organizer")
    assert granted.has("is now an organizer") and not granted.refused
    assert bob.command("help").has("campaign use")
    [audit] = world.rows("SELECT * FROM audit_log WHERE action = 'role.grant'")
    # console:bob, slack:U0BOB, discord:<snowflake>: the id the mention names
    assert audit.target.partition(":")[2] in surface.mention("bob")
    assert root.command(f"role revoke {surface.mention('bob')} organizer").has("no longer")
    assert not bob.command("help").has("campaign use")


# --- abuse limits ---------------------------------------------------------------------------


def hourly_limits_stop_a_runaway_account_and_tell_organizers_once(
    world: World, surface: Surface
) -> None:
    """Past the campaign's batches or calls an hour, the volunteer is told when they can go on,
    organizers hear of it once, and an hour later claiming works again."""
    world.campaign(
        [voter("Maria", 1), voter("Dave", 2)],
        batch_size=2,
        limits={"claims_per_hour": 2, "calls_per_hour": 1},
    )
    ana = surface.user("ana")
    sign_up(world, ana, ANA_PHONE)
    for _ in range(2):
        assert ana.command("batch").has("Maria", "Dave")
        assert ana.command("batch").has("You have a batch open")  # the open one: no new claim
        ana.press("I'm done")

    for _ in range(2):
        over = ana.command("batch")
        assert over.refused and over.has("2 batches in the last hour", "go on in 60 minutes")
    assert len(world.rows("SELECT id FROM batch")) == 2
    [alert] = world.rows("SELECT * FROM audit_log WHERE action = 'limit.claims'")
    assert alert.target.startswith("volunteer:")

    world.clock.advance(timedelta(minutes=61))
    assert ana.command("batch").has("Maria", "Dave")
    assert ana.press("Call", near="Maria").has("Calling")
    world.clock.advance(timedelta(minutes=5))
    for _ in range(2):
        over = ana.press("Call", near="Dave")
        assert over.refused and over.has("1 call in the last hour", "go on in 55 minutes")
    assert len(world.rows("SELECT id FROM call_attempt")) == 1
    assert len(world.rows("SELECT id FROM audit_log WHERE action = 'limit.calls'")) == 1


SCENARIOS: list[Scenario] = [
    a_volunteer_signs_up_calls_and_logs_an_outcome,
    a_malformed_phone_is_refused_on_the_form,
    signing_up_again_edits_the_profile,
    a_phone_someone_else_holds_reveals_nothing_and_rings_nothing,
    an_imported_recruit_is_theirs_only_after_the_code,
    no_batch_before_signup,
    an_unknown_subcommand_lists_the_commands,
    help_lists_only_what_the_role_allows,
    an_invalid_outcome_combination_is_refused,
    a_language_barrier_needs_the_language_heard,
    a_household_outcome_asks_who_answered,
    skip_and_done_return_voters_to_the_list,
    an_outcome_for_someone_elses_batch_is_refused,
    an_uncalled_card_cannot_poison_the_lists,
    a_manual_dial_result_waits_for_an_organizer,
    an_outcome_is_its_loggers_to_edit_for_a_while,
    an_organizer_chooses_the_campaign,
    an_admin_grants_the_organizer_role,
    *SHIFT_SCENARIOS,
    *BROADCAST_SCENARIOS,
    hourly_limits_stop_a_runaway_account_and_tell_organizers_once,
]


from tests.scenarios.training import TRAINING_SCENARIOS  # noqa: E402  (it uses sign_up above)

SCENARIOS += TRAINING_SCENARIOS

# Leaderboards and goals (issue 16), in their own module; imported last (it uses sign_up).
from tests.scenarios.standings_conversations import STANDINGS_SCENARIOS  # noqa: E402

SCENARIOS += STANDINGS_SCENARIOS
