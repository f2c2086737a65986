"""Stored failures carry codes and names, never the data a statement was given."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from accord.platform.errors import BadInput, describe_failure
from accord.platform.runtime import Runtime

SECRET = "Supplier monitoring records missing at the Leeds plant"


async def _failing_cast(runtime: Runtime) -> DBAPIError:
    with pytest.raises(DBAPIError) as caught:
        async with runtime.stores.engine("home").connect() as conn:
            await conn.execute(text("select cast(:t as integer)"), {"t": SECRET})
    return caught.value


async def test_database_errors_are_described_by_sqlstate_not_by_their_text(
    runtime: Runtime,
) -> None:
    exc = await _failing_cast(runtime)
    # PostgreSQL's own message quotes the value ("invalid input syntax … "<value>"").
    assert SECRET in str(exc.orig)
    described = describe_failure(exc)
    assert described == "DataError: SQLSTATE 22P02"
    assert SECRET not in described


async def test_engines_hide_statement_parameters(runtime: Runtime) -> None:
    exc = await _failing_cast(runtime)
    # SQLAlchemy's rendering of the error leaves out the parameters it was given.
    rendered = str(exc).replace(str(exc.orig), "")
    assert SECRET not in rendered
    assert "parameters hidden" in str(exc)


async def test_a_constraint_violation_names_the_constraint_and_no_values(
    runtime: Runtime,
) -> None:
    with pytest.raises(DBAPIError) as caught:
        async with runtime.stores.engine("home").begin() as conn:
            await conn.execute(text("create temporary table t (k text constraint k_uq unique)"))
            await conn.execute(text("insert into t values (:v), (:v)"), {"v": SECRET})
    described = describe_failure(caught.value)
    assert described == "IntegrityError: SQLSTATE 23505, constraint k_uq, table t"
    assert SECRET not in described


def test_expected_failures_keep_their_code_reason_and_message() -> None:
    refused = BadInput("The title is too long.", reason="TOO_LONG", field="title")
    assert describe_failure(refused) == "BAD_USER_INPUT/TOO_LONG [title]: The title is too long."


def test_other_exceptions_keep_only_their_type() -> None:
    assert describe_failure(ValueError(f"could not parse {SECRET}")) == "ValueError"
