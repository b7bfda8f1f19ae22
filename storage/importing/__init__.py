"""CSV import of voters, do-not-call numbers and volunteers (`phonebank import ...`)."""

from storage.importing.common import ImportSummary
from storage.importing.csv_source import ImportFailure
from storage.importing.dnc import import_dnc, phones_on_dnc
from storage.importing.volunteers import import_volunteers
from storage.importing.voter_columns import MAP_TARGETS, VOTER_FIELDS
from storage.importing.voters import import_voters

__all__ = [
    "MAP_TARGETS",
    "VOTER_FIELDS",
    "ImportFailure",
    "ImportSummary",
    "import_dnc",
    "import_voters",
    "import_volunteers",
    "phones_on_dnc",
]
