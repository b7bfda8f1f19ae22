"""`import_dnc` and `import_volunteers`: layouts, idempotence, matching, rejects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from storage.clock import FrozenClock
from storage.importing import ImportFailure, ImportSummary, import_dnc, import_volunteers
from storage.models import DncEntry, Volunteer
from tests.import_files import read_rejects, write_csv

VOLUNTEER_HEADER = ["Name", "Phone", "Email", "Languages"]


def counts(summary: ImportSummary) -> tuple[int, int, int, int, int]:
    assert summary.read == summary.imported + summary.updated + summary.unchanged + summary.rejected
    return summary.read, summary.imported, summary.updated, summary.unchanged, summary.rejected


def dnc_entries(engine: Engine) -> dict[str, Any]:
    table = DncEntry.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return {row.phone: row for row in conn.execute(select(table))}


def volunteers(engine: Engine) -> list[dict[str, Any]]:
    table = Volunteer.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        query = select(table).order_by(table.c.id)
        return [dict(row) for row in conn.execute(query).mappings()]


def volunteer_row(name: str, phone: str = "", email: str = "", languages: str = "") -> list[str]:
    return [name, phone, email, languages]


# --- do-not-call ---------------------------------------------------------------------------


def test_dnc_with_a_header_and_reasons(engine: Engine, tmp_path: Path, clock: FrozenClock) -> None:
    rows = [
        ["Pat", "(512) 555-0101", "asked on call"],
        ["Sam", "+1 512 555 0102", ""],
        ["Bad", "12", "typo"],
        ["Dup", "512.555.0101", "again"],
    ]
    path = write_csv(tmp_path / "dnc.csv", rows, ["Name", "Phone Number", "Reason"])
    summary = import_dnc(engine, path, clock)
    assert counts(summary) == (4, 2, 0, 1, 1)
    entries = dnc_entries(engine)
    assert set(entries) == {"+15125550101", "+15125550102"}
    assert entries["+15125550101"].reason == "asked on call"
    assert entries["+15125550101"].source == "import:dnc.csv"
    assert read_rejects(tmp_path / "dnc.rejects.csv")[0]["reason"] == "bad phone '12': too short"


def test_dnc_one_number_a_line_without_header(
    engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    path = tmp_path / "numbers.txt"
    path.write_text("512-555-0101\r\n\r\n5125550102\r\nnot a number\r\n")
    summary = import_dnc(engine, path, clock)
    assert counts(summary) == (3, 2, 0, 0, 1)
    assert set(dnc_entries(engine)) == {"+15125550101", "+15125550102"}


def test_dnc_import_is_idempotent(engine: Engine, tmp_path: Path, clock: FrozenClock) -> None:
    path = write_csv(tmp_path / "dnc.csv", [["512-555-0101"], ["512-555-0102"]], ["phone"])
    import_dnc(engine, path, clock)
    again = import_dnc(engine, path, clock)
    assert counts(again) == (2, 0, 0, 2, 0)
    assert len(dnc_entries(engine)) == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "empty"), ("name,email\nPat,p@x.org\n", "no phone column"), ("numbers\n", "no phone")],
)
def test_dnc_file_without_phones_is_refused(
    engine: Engine, tmp_path: Path, clock: FrozenClock, content: str, message: str
) -> None:
    path = tmp_path / "dnc.csv"
    path.write_text(content)
    with pytest.raises(ImportFailure, match=message):
        import_dnc(engine, path, clock)


# --- volunteers ----------------------------------------------------------------------------


def test_recruiting_list_becomes_applicants(
    engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    rows = [
        volunteer_row("Mai Tran", "512-555-0131", "Mai@Example.org", "Vietnamese; English"),
        volunteer_row("Luz Soto", "", "luz@example.org", "es,en"),
        volunteer_row("Al Kim", "850-222-0100"),
    ]
    summary = import_volunteers(
        engine, write_csv(tmp_path / "vol.csv", rows, VOLUNTEER_HEADER), clock
    )
    assert counts(summary) == (3, 3, 0, 0, 0)
    mai, luz, al = volunteers(engine)
    assert (mai["phone"], mai["email"], mai["area_code"]) == (
        "+15125550131",
        "mai@example.org",
        "512",
    )
    assert mai["languages"] == ["vi", "en"]
    assert (luz["phone"], luz["languages"]) == (None, ["es", "en"])
    assert (al["email"], al["languages"], al["status"]) == (None, ["en"], "applicant")


def test_volunteers_match_by_phone_then_email_and_keep_status(
    engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    first = [
        volunteer_row("Mai Tran", "512-555-0131", "mai@example.org", "vi"),
        volunteer_row("Luz Soto", "", "luz@example.org", "es"),
    ]
    import_volunteers(engine, write_csv(tmp_path / "v.csv", first, VOLUNTEER_HEADER), clock)
    table = Volunteer.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(update(table).values(status="trained"))
    again = [
        volunteer_row("Mai Tran", "512-555-0131", "mai@example.org", "vi"),  # unchanged
        volunteer_row("Luz Soto-Diaz", "512-555-0132", "LUZ@example.org", "es"),  # by email
        volunteer_row("New Person", "512-555-0133", "", ""),
    ]
    path = write_csv(tmp_path / "v.csv", again, VOLUNTEER_HEADER)
    summary = import_volunteers(engine, path, clock)
    assert counts(summary) == (3, 1, 1, 1, 0)
    mai, luz, new = volunteers(engine)
    assert (luz["name"], luz["phone"], luz["status"]) == (
        "Luz Soto-Diaz",
        "+15125550132",
        "trained",
    )
    assert (mai["status"], new["status"]) == ("trained", "applicant")
    assert counts(import_volunteers(engine, path, clock)) == (3, 0, 0, 3, 0)


def test_a_new_phone_from_an_import_is_not_verified(
    engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    path = tmp_path / "v.csv"
    rows = [
        volunteer_row("Mai Tran", "512-555-0131", "mai@example.org"),
        volunteer_row("Luz Soto", "512-555-0132", "luz@example.org"),
    ]
    import_volunteers(engine, write_csv(path, rows, VOLUNTEER_HEADER), clock)
    table = Volunteer.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(
            update(table).values(phone_verified_at=clock.now(), sms_undeliverable="landline")
        )
    rows[1] = volunteer_row("Luz Soto", "512-555-0199", "luz@example.org")  # matched by email

    import_volunteers(engine, write_csv(path, rows, VOLUNTEER_HEADER), clock)

    mai, luz = volunteers(engine)
    assert (mai["phone_verified_at"], mai["sms_undeliverable"]) == (clock.now(), "landline")
    assert (luz["phone"], luz["phone_verified_at"], luz["sms_undeliverable"]) == (
        "+15125550199",
        None,
        None,
    )


def test_bad_volunteer_rows_are_rejected(
    engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    import_volunteers(
        engine,
        write_csv(
            tmp_path / "a.csv",
            [volunteer_row("Ann", "512-555-0141", "ann@x.org")],
            VOLUNTEER_HEADER,
        ),
        clock,
    )
    import_volunteers(
        engine,
        write_csv(
            tmp_path / "b.csv",
            [volunteer_row("Ben", "512-555-0142", "ben@x.org")],
            VOLUNTEER_HEADER,
        ),
        clock,
    )
    rows = [
        volunteer_row("", "512-555-0150"),
        volunteer_row("Cal"),
        volunteer_row("Dee", "99"),
        volunteer_row("Eve", "", "not-an-email"),
        volunteer_row("Ann B", "512-555-0141", "ben@x.org"),  # Ann's phone, Ben's email
        ["Fay", "512-555-0151"],
    ]
    summary = import_volunteers(
        engine, write_csv(tmp_path / "c.csv", rows, VOLUNTEER_HEADER), clock
    )
    assert counts(summary) == (6, 0, 0, 0, 6)
    reasons = [r["reason"] for r in read_rejects(tmp_path / "c.rejects.csv")]
    assert reasons == [
        "no name",
        "no phone and no email",
        "bad phone '99': too short",
        "bad email 'not-an-email'",
        "email ben@x.org belongs to another volunteer",
        "ragged row: 2 fields, the header has 4",
    ]
    assert len(volunteers(engine)) == 2


def test_first_and_last_name_columns_make_the_name(
    engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    path = write_csv(
        tmp_path / "v.csv",
        [["Rosa", "Parks", "rosa@example.org"]],
        ["First Name", "Last Name", "E-mail"],
    )
    import_volunteers(engine, path, clock)
    assert volunteers(engine)[0]["name"] == "Rosa Parks"


def test_volunteer_file_needs_name_and_contact_columns(
    engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    with pytest.raises(ImportFailure, match="no name column"):
        import_volunteers(engine, write_csv(tmp_path / "a.csv", [], ["Phone"]), clock)
    with pytest.raises(ImportFailure, match="no phone or email column"):
        import_volunteers(engine, write_csv(tmp_path / "b.csv", [], ["Name", "Notes"]), clock)
