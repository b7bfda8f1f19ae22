"""Which column of a voter file feeds which voter field: common headers, and --map overrides."""

from __future__ import annotations

from dataclasses import dataclass

from storage.importing.csv_source import ImportFailure, header_key

# Field -> the headers (compared by `header_key`) that feed it, VAN exports first.
VOTER_FIELDS: dict[str, tuple[str, ...]] = {
    "external_id": ("vanid", "voterid", "externalid", "voterfileid", "voterfilevanid", "id"),
    "first_name": ("firstname", "first", "fname", "givenname"),
    "last_name": ("lastname", "last", "lname", "surname", "familyname"),
    "cell_phone": ("cellphone", "cell", "mobile", "mobilephone", "cellphonenumber", "wireless"),
    "phone": ("phone", "phonenumber", "preferredphone", "telephone", "tel"),
    "home_phone": ("homephone", "home", "landline", "homephonenumber"),
    "language": ("language", "lang", "preferredlanguage", "spokenlanguage"),
    "state": ("state", "st", "stateprovince", "homestate"),
    "zip": ("zip5", "zip", "zipcode", "postalcode", "postcode"),
    "priority": ("priority", "tier"),
}
PHONE_FIELDS = ("cell_phone", "phone", "home_phone")  # the first valid one is called
MAP_TARGETS = (*VOTER_FIELDS, "attribute", "ignore")


@dataclass(frozen=True)
class VoterColumns:
    """Column positions: one per mapped field, the phones by preference, and the rest."""

    header: list[str]
    fields: dict[str, int]
    phones: list[tuple[int, str]]  # (position, header), cell before phone before home
    attributes: list[tuple[int, str]]  # kept with the voter under their original header

    def position(self, name: str) -> int | None:
        """Where field `name` is read from, if anywhere."""
        return self.fields.get(name)


def parse_map_options(options: list[str]) -> dict[str, str]:
    """["Cell Number=cell_phone", ...] -> {header_key: field}; unknown fields are an error."""
    overrides: dict[str, str] = {}
    for option in options:
        column, sep, target = option.partition("=")
        target = target.strip().lower()
        if not sep or not column.strip():
            raise ImportFailure(f"--map {option!r}: expected COLUMN=FIELD")
        if target not in MAP_TARGETS:
            raise ImportFailure(
                f"--map {option!r}: unknown field {target!r} (one of {', '.join(MAP_TARGETS)})"
            )
        overrides[header_key(column)] = target
    return overrides


def map_voter_columns(header: list[str], overrides: dict[str, str]) -> VoterColumns:
    """Assign each header a field: --map first, then the common names; the rest are attributes."""
    keys = [header_key(name) for name in header]
    missing = sorted(set(overrides) - set(keys))
    if missing:
        raise ImportFailure(f"--map names columns not in the file: {', '.join(missing)}")
    assigned: dict[int, str] = {}
    for position, key in enumerate(keys):
        target = overrides.get(key)
        if target is None:
            continue
        if target in VOTER_FIELDS and target in assigned.values():
            raise ImportFailure(f"--map gives two columns the field {target!r}")
        assigned[position] = target
    for field, aliases in VOTER_FIELDS.items():
        if field in assigned.values():
            continue
        for alias in aliases:
            free = _first_free(keys, alias, assigned)
            if free is not None:
                assigned[free] = field
                break
    return _columns(header, assigned)


def _first_free(keys: list[str], alias: str, assigned: dict[int, str]) -> int | None:
    for position, key in enumerate(keys):
        if key == alias and position not in assigned:
            return position
    return None


def _columns(header: list[str], assigned: dict[int, str]) -> VoterColumns:
    fields = {f: p for p, f in assigned.items() if f in VOTER_FIELDS}
    phones = [(fields[f], header[fields[f]]) for f in PHONE_FIELDS if f in fields]
    if not phones:
        raise ImportFailure(
            "no phone column: name one Phone, CellPhone or HomePhone, or use --map COLUMN=phone"
        )
    attributes = [
        (p, name)
        for p, name in enumerate(header)
        if p not in assigned or assigned[p] == "attribute"
    ]
    return VoterColumns(header, fields, phones, attributes)
