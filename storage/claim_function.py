"""The claim's matching steps as one PostgreSQL function, so a claim picks in one round trip.

`matching/claims.py` walked the matching steps from Python: one `SELECT ... FOR UPDATE SKIP
LOCKED` per step and round (about two a claim), then one for the households on the phones
picked. Each was a round trip and a statement's worth of Python. `phonebank_claim_pick` runs the
same statements inside the server and returns what they returned:

- `pick` rows, in matching order: the voters each step locked (one row per new phone);
- `member` rows: every eligible voter on those phones in the caller's languages that this claim
  could lock (the picks among them);
- `other` rows: eligible voters on those phones that another claim in flight holds (their
  phones are dropped, so a household is never split).

The eligibility conditions are `matching.eligibility.pool_conditions` written out in SQL; the
claim tests (ranking property test, ineligible voters, concurrency) run through this function on
PostgreSQL, and SQLite keeps the Python path. One static statement per tier, each served by its
own partial index; PL/pgSQL caches their plans as psycopg's prepared statements did. (Dynamic
EXECUTE, planned on every call, cost more server CPU than the round trips it saved.)

Created by migration 0004, and with the tables by `create_schema` (tests, benchmarks).
"""

from __future__ import annotations

from sqlalchemy import DDL, event
from sqlmodel import SQLModel

FUNCTION_NAME = "phonebank_claim_pick"

# The eligibility of matching.eligibility.pool_conditions, over voter `v`.
_ELIGIBLE = """
       v.campaign_id = p_campaign AND v.status = 'ready' AND v.batch_id IS NULL
   AND v.calling_zone_key = ANY(p_keys) AND v.attempts < p_max_attempts AND v.available_at <= p_now
   AND (SELECT c.id FROM batch_card c
         WHERE c.campaign_id = v.campaign_id AND c.phone = v.phone AND c.released_at IS NULL
         LIMIT 1) IS NULL
   AND (SELECT d.id FROM dnc_entry d WHERE d.phone = v.phone LIMIT 1) IS NULL
"""
_COLUMNS = """v.id, v.phone, v.first_name, v.last_name, v.language, v.area_code, v.state,
           v.calling_zone_key, v.priority, v.attempts, v.available_at"""


def _step(tier: str) -> str:
    """One matching step's statement, in call order, locking what it returns."""
    return f"""ARRAY(
                SELECT v FROM voter v
                 WHERE {_ELIGIBLE}
                   AND v.language = p_step_languages[step] AND {tier} AND v.id <> ALL(taken)
                 ORDER BY v.priority, v.attempts, v.available_at
                 LIMIT wanted
                   FOR UPDATE OF v SKIP LOCKED)"""


CREATE_FUNCTION = f"""
CREATE OR REPLACE FUNCTION {FUNCTION_NAME}(
    p_campaign integer, p_keys varchar[], p_max_attempts integer, p_now timestamptz,
    p_size integer, p_languages varchar[],
    p_step_languages varchar[], p_step_columns varchar[], p_step_values varchar[])
RETURNS TABLE (part text, id integer, phone varchar, first_name varchar, last_name varchar,
               language varchar, area_code varchar, state varchar, calling_zone_key varchar,
               priority integer, attempts integer, available_at timestamptz)
LANGUAGE plpgsql AS $fn$
#variable_conflict use_column
DECLARE
    taken integer[] := '{{}}';
    phones varchar[] := '{{}}';
    wanted integer;
    rows voter[];
    r voter;
BEGIN
    FOR step IN 1 .. coalesce(cardinality(p_step_languages), 0) LOOP
        EXIT WHEN cardinality(phones) >= p_size;
        LOOP
            wanted := p_size - cardinality(phones);
            -- equality on campaign, language and the tier's column, then the index's own
            -- order, so the scan stops after `wanted` rows; static statements, so their plans
            -- are cached like the prepared statements of the Python path
            IF p_step_columns[step] IS NULL THEN  -- ix_voter_pool_any
                rows := {_step("true")};
            ELSIF p_step_columns[step] = 'area_code' THEN  -- ix_voter_pool_area
                rows := {_step("v.area_code = p_step_values[step]")};
            ELSIF p_step_columns[step] = 'state' THEN  -- ix_voter_pool_state
                rows := {_step("v.state = p_step_values[step]")};
            ELSE  -- ix_voter_pool_zone
                rows := {_step("v.calling_zone_key = p_step_values[step]")};
            END IF;
            FOREACH r IN ARRAY rows LOOP
                taken := taken || r.id;
                IF NOT r.phone = ANY(phones) THEN
                    phones := phones || r.phone;
                    part := 'pick';
                    id := r.id; phone := r.phone; first_name := r.first_name;
                    last_name := r.last_name; language := r.language;
                    area_code := r.area_code; state := r.state;
                    calling_zone_key := r.calling_zone_key; priority := r.priority;
                    attempts := r.attempts; available_at := r.available_at;
                    RETURN NEXT;
                END IF;
            END LOOP;
            -- fewer rows than asked: the step has no more; as many (a household's two voters
            -- make one phone): it may hold more, so ask again before a worse tier
            EXIT WHEN cardinality(rows) < wanted OR cardinality(phones) >= p_size;
        END LOOP;
    END LOOP;
    IF cardinality(phones) = 0 THEN
        RETURN;
    END IF;
    -- the households on the phones picked (ix_voter_campaign_phone): SKIP LOCKED skips only
    -- other transactions' locks, so the picks come back as members too
    RETURN QUERY
        WITH locked AS (
            SELECT {_COLUMNS}
              FROM voter v
             WHERE {_ELIGIBLE}
               AND v.phone = ANY(phones) AND v.language = ANY(p_languages)
               FOR UPDATE OF v SKIP LOCKED
        )
        SELECT 'member'::text, l.* FROM locked l
        UNION ALL
        SELECT 'other'::text, {_COLUMNS}
          FROM voter v
         WHERE {_ELIGIBLE}
           AND v.phone = ANY(phones) AND v.language = ANY(p_languages)
           AND v.id NOT IN (SELECT l.id FROM locked l);
END
$fn$
"""

DROP_FUNCTION = f"DROP FUNCTION IF EXISTS {FUNCTION_NAME}"

# With the tables, for `create_schema` (storage/models.py imports this module). DDL formats its
# text with %, hence the doubling.
CREATE_WITH_TABLES = DDL(CREATE_FUNCTION.replace("%", "%%")).execute_if(dialect="postgresql")
event.listen(SQLModel.metadata, "after_create", CREATE_WITH_TABLES)
