"""Synthetic VAN-style voter files for the import benchmark, written as a stream.

Phones come from real US exchanges (NPA-NXX that phonenumbers geocodes) over many area codes;
about 5% of rows carry a malformed phone and about 2% repeat an earlier row.
"""

from __future__ import annotations

import csv
import random
from collections import deque
from pathlib import Path

from phonenumbers.geodata import GEOCODE_DATA

from matching.phones import US_STATES

HEADER = [  # bench.import_bench repeats it
    "VanID", "FirstName", "LastName", "CellPhone", "HomePhone", "Language", "State", "Zip5",
    "Precinct", "PollingPlace", "Age", "Party",
]  # fmt: skip
FIRST = [
    "Ana",
    "Ben",
    "Carla",
    "Dmitri",
    "Elena",
    "Farid",
    "Grace",
    "Hao",
    "Ines",
    "Jamal",
    "Kim",
    "Luis",
    "Mai",
    "Nora",
    "Omar",
    "Priya",
]
LAST = [
    "Garcia",
    "Smith",
    "Nguyen",
    "Johnson",
    "Lee",
    "Patel",
    "Kim",
    "Lopez",
    "Brown",
    "Tran",
    "Davis",
    "Martinez",
    "Chen",
    "Ortiz",
]
LANGUAGES = ["English"] * 14 + ["Spanish"] * 4 + ["Vietnamese", "Chinese"]
STATES = ["AZ", "CA", "FL", "GA", "MI", "NC", "NV", "PA", "TX", "WI"]
PARTIES = ["D", "R", "I", "", "G", "L"]
MALFORMED = ["555-01", "n/a", "123-456-7890", "(000) 555-0100", "5125550", "call me", ""]


def us_exchanges(area_codes: int, rng: random.Random) -> list[str]:
    """NPA-NXX of `area_codes` US area codes picked at random, as phonenumbers knows them."""
    states = set(US_STATES.values())
    by_npa: dict[str, list[str]] = {}
    for key, names in GEOCODE_DATA.items():
        if len(key) == 7 and key.startswith("1") and names.get("en", "")[-2:] in states:
            by_npa.setdefault(key[1:4], []).append(key[1:])
    chosen = rng.sample(sorted(by_npa), min(area_codes, len(by_npa)))
    return [exchange for npa in chosen for exchange in by_npa[npa]]


def write_voter_file(path: Path, rows: int, seed: int = 7, area_codes: int = 150) -> None:
    """Write `rows` data rows (plus a header) to `path`."""
    rng = random.Random(seed)
    exchanges = us_exchanges(area_codes, rng)
    recent: deque[list[str]] = deque(maxlen=20_000)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for number in range(rows):
            if recent and rng.random() < 0.02:
                row = rng.choice(recent)  # a repeated row, as voter-file merges leave them
            else:
                row = _voter(number, rng, exchanges)
                recent.append(row)
            writer.writerow(row)


def _voter(number: int, rng: random.Random, exchanges: list[str]) -> list[str]:
    cell = _phone(rng, exchanges) if rng.random() < 0.7 else ""
    home = _phone(rng, exchanges) if not cell or rng.random() < 0.3 else ""
    if rng.random() < 0.05:
        cell, home = rng.choice(MALFORMED), ""
    return [
        str(1_000_000 + number),
        rng.choice(FIRST),
        rng.choice(LAST),
        cell,
        home,
        rng.choice(LANGUAGES),
        rng.choice(STATES),
        f"{rng.randint(10000, 99999)}",
        f"P-{rng.randint(1, 400)}",
        f"School {rng.randint(1, 90)}",
        str(rng.randint(18, 99)),
        rng.choice(PARTIES),
    ]


def _phone(rng: random.Random, exchanges: list[str]) -> str:
    exchange = rng.choice(exchanges)
    line = rng.randint(0, 9999)
    style = rng.random()
    if style < 0.5:
        return f"({exchange[:3]}) {exchange[3:]}-{line:04d}"
    if style < 0.8:
        return f"{exchange[:3]}-{exchange[3:]}-{line:04d}"
    return f"1{exchange}{line:04d}"
