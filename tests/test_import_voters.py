"""`import_voters`: mapping, households, idempotence, updates, bad rows, encodings, DNC."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine

from storage.clock import FrozenClock
from storage.importing import ImportFailure, ImportSummary, csv_source, import_dnc, import_voters
from storage.importing import common as import_common
from storage.models import Voter
from tests.import_files import (
    VAN_HEADER,
    new_campaign,
    read_rejects,
    voter_row,
    voters_in,
    write_csv,
)


def run_import(engine: Engine, path: Path, clock: FrozenClock, **kwargs: object) -> ImportSummary:
    summary = import_voters(engine, path, "import-test", clock, **kwargs)  # type: ignore[arg-type]
    counted = summary.imported + summary.updated + summary.unchanged + summary.rejected
    assert summary.read == counted
    return summary


def counts(summary: ImportSummary) -> tuple[int, int, int, int, int]:
    return summary.read, summary.imported, summary.updated, summary.unchanged, summary.rejected


def test_van_export_becomes_voters(engine: Engine, tmp_path: Path, clock: FrozenClock) -> None:
    new_campaign(engine)
    row = voter_row(
        VanID="4001",
        FirstName=" Ana ",
        LastName="García",
        CellPhone="(850) 222-1234",
        HomePhone="850-434-0000",
        Language="Spanish",
        State="florida",
        Zip5="2134",
    )
    summary = run_import(engine, write_csv(tmp_path / "voters.csv", [row]), clock)
    assert counts(summary) == (1, 1, 0, 0, 0)
    [voter] = voters_in(engine)
    assert voter["external_id"] == "4001"
    assert voter["dedupe_key"] == "id:4001"
    assert (voter["first_name"], voter["last_name"]) == ("Ana", "García")
    assert (voter["phone"], voter["area_code"], voter["phone_region"]) == (
        "+18502221234",
        "850",
        "US",
    )
    assert voter["time_zones"] == "America/New_York"
    assert (voter["language"], voter["state"], voter["zip"]) == ("es", "FL", "02134")
    assert voter["attributes"] == {"HomePhone": "850-434-0000", "Precinct": "P-12", "Party": "D"}
    assert voter["created_at"] == clock.now()
    assert voter["calling_zone_key"] is None


def test_headers_match_whatever_their_case_and_spacing(
    engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    new_campaign(engine)
    header = ["voter_id", "FIRST NAME", "last-name", "Mobile", "ZIP CODE", "priority", "Tags"]
    path = write_csv(
        tmp_path / "v.csv", [["77", "Lee", "Ng", "512 555 0188", "78702", "2", "x"]], header
    )
    run_import(engine, path, clock)
    [voter] = voters_in(engine)
    assert (voter["external_id"], voter["first_name"], voter["last_name"]) == ("77", "Lee", "Ng")
    assert (voter["phone"], voter["zip"], voter["priority"]) == ("+15125550188", "78702", 2)
    assert voter["attributes"] == {"Tags": "x"}


def test_home_phone_is_used_when_the_cell_is_bad(
    engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    new_campaign(engine)
    path = write_csv(tmp_path / "v.csv", [voter_row(CellPhone="555-12", HomePhone="512-555-0123")])
    run_import(engine, path, clock)
    [voter] = voters_in(engine)
    assert voter["phone"] == "+15125550123"
    assert voter["attributes"]["CellPhone"] == "555-12"


def test_household_on_one_phone_keeps_everyone(
    engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    new_campaign(engine)
    landline = "512-555-0142"
    family = [
        voter_row(FirstName=name, LastName="Nguyen", CellPhone="", HomePhone=landline)
        for name in ("Lan", "Minh", "Bao")
    ]
    no_ids = [
        voter_row(VanID="", FirstName=name, LastName="Ortiz", CellPhone=landline)
        for name in ("Rosa", "Luis")
    ]
    summary = run_import(engine, write_csv(tmp_path / "v.csv", family + no_ids), clock)
    assert counts(summary) == (5, 5, 0, 0, 0)
    voters = voters_in(engine)
    assert {v["phone"] for v in voters} == {"+15125550142"}
    assert {v["first_name"] for v in voters} == {"Lan", "Minh", "Bao", "Rosa", "Luis"}
    assert {v["dedupe_key"] for v in voters if v["external_id"] is None} == {
        "np:rosa|ortiz|+15125550142",
        "np:luis|ortiz|+15125550142",
    }


def test_same_name_and_phone_without_id_is_one_voter(
    engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    new_campaign(engine)
    rows = [
        voter_row(VanID="", FirstName="Ann", LastName="Lee", CellPhone="512-555-0150"),
        voter_row(VanID="", FirstName="ANN ", LastName="lee", CellPhone="+1 512 555 0150"),
    ]
    summary = run_import(engine, write_csv(tmp_path / "v.csv", rows), clock)
    assert counts(summary) == (2, 1, 1, 0, 0)  # the second spelling updated the first
    [voter] = voters_in(engine)
    assert voter["first_name"] == "ANN"


def test_reimporting_the_same_file_changes_nothing(
    engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    new_campaign(engine)
    rows = [voter_row() for _ in range(20)] + [voter_row(CellPhone="bad")]
    rows.append(dict(rows[3]))  # an identical duplicate row
    path = write_csv(tmp_path / "v.csv", rows)
    first = run_import(engine, path, clock)
    assert counts(first) == (22, 20, 0, 1, 1)
    before = voters_in(engine)
    clock.advance(timedelta(days=1))
    second = run_import(engine, path, clock)
    assert counts(second) == (22, 0, 0, 21, 1)
    assert voters_in(engine) == before


def test_updated_file_updates_only_changed_rows(
    engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    new_campaign(engine)
    rows = [voter_row() for _ in range(5)]
    run_import(engine, write_csv(tmp_path / "v.csv", rows), clock)
    voters = Voter.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:  # the claim had resolved every voter's calling zone
        conn.execute(update(voters).values(calling_zone_key="America/Chicago"))
    rows[1]["CellPhone"] = "(850) 222-0001"
    rows[2]["Party"] = "I"
    rows.append(voter_row())
    clock.advance(timedelta(hours=1))
    summary = run_import(engine, write_csv(tmp_path / "v.csv", rows), clock)
    assert counts(summary) == (6, 1, 2, 3, 0)
    by_id = {v["external_id"]: v for v in voters_in(engine)}
    moved = by_id[rows[1]["VanID"]]
    assert (moved["phone"], moved["time_zones"]) == ("+18502220001", "America/New_York")
    assert moved["calling_zone_key"] is None  # to be resolved again
    assert moved["updated_at"] == clock.now()
    assert by_id[rows[2]["VanID"]]["attributes"]["Party"] == "I"
    untouched = by_id[rows[0]["VanID"]]
    assert untouched["calling_zone_key"] == "America/Chicago"
    assert untouched["updated_at"] == untouched["created_at"]


@pytest.mark.parametrize("chunk_rows", [2, 1000])
def test_duplicates_in_a_file_count_once_last_wins(
    engine: Engine,
    tmp_path: Path,
    clock: FrozenClock,
    monkeypatch: pytest.MonkeyPatch,
    chunk_rows: int,
) -> None:
    monkeypatch.setattr(import_common, "CHUNK_ROWS", chunk_rows)
    new_campaign(engine)
    same = voter_row(VanID="9")
    rows = [same, voter_row(), dict(same), voter_row(), dict(same, FirstName="Later")]
    summary = run_import(engine, write_csv(tmp_path / "v.csv", rows), clock)
    assert counts(summary) == (5, 3, 1, 1, 0)
    assert {v["first_name"] for v in voters_in(engine) if v["external_id"] == "9"} == {"Later"}


def test_every_bad_row_is_rejected_with_its_reason(
    engine: Engine, tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_source, "FIELD_SIZE_LIMIT", 1000)
    new_campaign(engine)
    good = voter_row()
    bad_rows: list[dict[str, str] | list[str]] = [
        voter_row(CellPhone="n/a"),
        voter_row(CellPhone="", HomePhone=""),
        voter_row(CellPhone="1-800-555-0000"),
        voter_row(VanID="", FirstName="", LastName=""),
        voter_row(State="Texass"),
        voter_row(Priority="high"),
        voter_row(Zip5="787011234567"),
        voter_row(FirstName="x" * 101),
        voter_row(VanID="v" * 65),
        ["1", "too", "short"],
        [*voter_row().values(), "1", "extra"],
        voter_row(Precinct="p" * 1001),  # more than the csv module will read
        voter_row(LastName="Nul\x00l"),  # no database stores NUL in text
    ]
    header = [*VAN_HEADER, "Priority"]
    path = write_csv(tmp_path / "voters.csv", [good, *bad_rows], header)
    summary = run_import(engine, path, clock)
    assert counts(summary) == (14, 1, 0, 0, 13)
    rejects = read_rejects(tmp_path / "voters.rejects.csv")
    assert summary.rejects_file == str(tmp_path / "voters.rejects.csv")
    reasons = [r["reason"] for r in rejects]
    assert reasons[:9] == [
        "bad phone 'n/a': not a phone number",
        "no phone",
        "phone +18005550000 is not geographic (toll-free?)",
        "no external id and no name",
        "state 'Texass' is not a US state",
        "priority 'high' is not a whole number",
        "zip '787011234567' longer than 10 characters",
        "first name longer than 100 characters",
        "external id longer than 64 characters",
    ]
    assert reasons[9].startswith("ragged row: 3 fields")
    assert reasons[10].startswith("ragged row: 12 fields")
    assert reasons[11].startswith("unreadable row: field larger than field limit")
    assert reasons[12] == "unreadable row: NUL character"
    assert rejects[12]["LastName"] == "Null"
    assert rejects[0]["CellPhone"] == "n/a"  # the original row, as it was
    assert rejects[0]["VanID"] == bad_rows[0]["VanID"]  # type: ignore[call-overload]


def test_a_clean_run_removes_an_old_rejects_file(
    engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    new_campaign(engine)
    stale = tmp_path / "v.rejects.csv"
    stale.write_text("old")
    summary = run_import(engine, write_csv(tmp_path / "v.csv", [voter_row()]), clock)
    assert summary.rejects_file is None
    assert not stale.exists()


@pytest.mark.parametrize(
    ("encoding", "newline"), [("utf-8", "\n"), ("utf-8-sig", "\r\n"), ("latin-1", "\r\n")]
)
def test_encodings_line_ends_and_quoted_fields(
    engine: Engine, tmp_path: Path, clock: FrozenClock, encoding: str, newline: str
) -> None:
    new_campaign(engine)
    rows = [
        voter_row(VanID="1", FirstName="José", LastName="Núñez", Precinct="Smith, North"),
        voter_row(VanID="2", LastName="Ørsted", Precinct="line one\nline two"),
    ]
    path = write_csv(tmp_path / "v.csv", rows, encoding=encoding, newline=newline)
    summary = run_import(engine, path, clock)
    assert counts(summary) == (2, 2, 0, 0, 0)
    assert bool(summary.warnings) == (encoding == "latin-1")
    by_id = {v["external_id"]: v for v in voters_in(engine)}
    assert (by_id["1"]["first_name"], by_id["1"]["last_name"]) == ("José", "Núñez")
    assert by_id["1"]["attributes"]["Precinct"] == "Smith, North"
    assert by_id["2"]["attributes"]["Precinct"] == "line one\nline two"
    assert "VanID" not in by_id["1"]["attributes"]  # the BOM did not stick to the first header


def test_latin1_warning_names_the_file(engine: Engine, tmp_path: Path, clock: FrozenClock) -> None:
    new_campaign(engine)
    path = write_csv(tmp_path / "old.csv", [voter_row(FirstName="Zoë")], encoding="latin-1")
    summary = run_import(engine, path, clock)
    offset = path.read_bytes().index("ë".encode("latin-1"))
    assert summary.warnings == [f"old.csv is not UTF-8 (byte {offset}): read as Latin-1"]
    assert voters_in(engine)[0]["first_name"] == "Zoë"


def test_map_overrides_and_attribute_targets(
    engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    new_campaign(engine)
    header = ["Person", "Cell Number", "Phone", "Lang Spoken", "Notes"]
    path = write_csv(
        tmp_path / "v.csv", [["P-1", "512-555-0111", "512-555-0222", "vi", "call late"]], header
    )
    maps = [
        "person=external_id",
        "Cell Number=cell_phone",
        "LANG_SPOKEN=language",
        "Notes=ignore",
        "Phone=attribute",
    ]
    run_import(engine, path, clock, column_map=maps)
    [voter] = voters_in(engine)
    assert (voter["external_id"], voter["phone"], voter["language"]) == (
        "P-1",
        "+15125550111",
        "vi",
    )
    assert voter["attributes"] == {"Phone": "512-555-0222"}


@pytest.mark.parametrize(
    ("header", "maps", "message"),
    [
        (["VanID", "Name"], [], "no phone column"),
        (VAN_HEADER, ["VanID=shoe_size"], "unknown field 'shoe_size'"),
        (VAN_HEADER, ["Nope=phone"], "not in the file: nope"),
        (VAN_HEADER, ["VanID"], "expected COLUMN=FIELD"),
        (VAN_HEADER, ["VanID=phone", "Party=phone"], "two columns the field 'phone'"),
        ([], [], "empty"),
    ],
)
def test_whole_file_problems_stop_before_any_row(
    engine: Engine,
    tmp_path: Path,
    clock: FrozenClock,
    header: list[str],
    maps: list[str],
    message: str,
) -> None:
    new_campaign(engine)
    path = write_csv(tmp_path / "v.csv", [], header)
    with pytest.raises(ImportFailure, match=message):
        run_import(engine, path, clock, column_map=maps)
    assert voters_in(engine) == []


def test_unknown_campaign_and_missing_file(
    engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    path = write_csv(tmp_path / "v.csv", [voter_row()])
    with pytest.raises(ImportFailure, match="no campaign 'ghost'"):
        import_voters(engine, path, "ghost", clock)
    with pytest.raises(ImportFailure, match="no such file"):
        import_voters(engine, tmp_path / "missing.csv", "ghost", clock)


def test_voters_on_the_dnc_list_are_kept_and_counted(
    engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    new_campaign(engine)
    import_dnc(engine, write_csv(tmp_path / "dnc.csv", [["512-555-0177"]], ["phone"]), clock)
    rows = [voter_row(CellPhone="512-555-0177"), voter_row(HomePhone="x"), voter_row()]
    summary = run_import(engine, write_csv(tmp_path / "v.csv", rows), clock)
    assert (summary.imported, summary.on_dnc) == (3, 1)
    assert len(voters_in(engine)) == 3


def test_campaigns_keep_their_own_voters(
    engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    new_campaign(engine)
    other = new_campaign(engine, "other")
    path = write_csv(tmp_path / "v.csv", [voter_row(VanID="1")])
    run_import(engine, path, clock)
    assert import_voters(engine, path, other, clock).imported == 1
    assert len(voters_in(engine)) == 2


def test_rows_already_in_the_table_keep_their_call_history(
    engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    new_campaign(engine)
    row = voter_row()
    run_import(engine, write_csv(tmp_path / "v.csv", [row]), clock)
    voters = Voter.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(update(voters).values(attempts=2, status="done", last_result="talked"))
    run_import(engine, write_csv(tmp_path / "v.csv", [dict(row, Party="G")]), clock)
    [voter] = voters_in(engine)
    assert (voter["attempts"], voter["status"], voter["last_result"]) == (2, "done", "talked")
    assert voter["attributes"]["Party"] == "G"


def test_rows_of_empty_fields_are_counted_and_rejected(
    engine: Engine, tmp_path: Path, clock: FrozenClock
) -> None:
    new_campaign(engine)
    path = write_csv(tmp_path / "v.csv", [voter_row(), [""] * len(VAN_HEADER)])
    with path.open("a") as handle:
        handle.write("\n\n")  # blank lines are not records
    summary = run_import(engine, path, clock)
    assert counts(summary) == (2, 1, 0, 0, 1)


def test_progress_reports_bytes_read_up_to_the_size(
    engine: Engine, tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_source, "_PROGRESS_EVERY", 4)
    new_campaign(engine)
    path = write_csv(tmp_path / "v.csv", [voter_row() for _ in range(30)])
    seen: list[tuple[int, int]] = []
    run_import(engine, path, clock, on_progress=lambda done, total: seen.append((done, total)))
    size = path.stat().st_size
    assert len(seen) > 3
    assert all(total == size for _, total in seen)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert seen[-1] == (size, size)


def test_example_voter_file_imports(engine: Engine, tmp_path: Path, clock: FrozenClock) -> None:
    examples = Path(__file__).parent.parent / "examples"
    for name in ("voters.csv", "dnc.csv"):  # the rejects file is written beside the input
        shutil.copy(examples / name, tmp_path / name)
    new_campaign(engine)
    import_dnc(engine, tmp_path / "dnc.csv", clock)
    summary = run_import(engine, tmp_path / "voters.csv", clock)
    assert counts(summary) == (200, 196, 0, 0, 4)
    assert summary.on_dnc == 3
    voters = voters_in(engine)
    languages = {v["language"] for v in voters}
    assert {"en", "es", "vi"} <= languages
    by_phone: dict[str, int] = {}
    for voter in voters:
        by_phone[voter["phone"]] = by_phone.get(voter["phone"], 0) + 1
    assert max(by_phone.values()) >= 3  # a household on one landline
    assert len(read_rejects(tmp_path / "voters.rejects.csv")) == 4
