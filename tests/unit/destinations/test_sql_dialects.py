from __future__ import annotations

import pytest

from airflow_oauth_connector.destinations.sql_dialects import (
    PostgresDialect,
    SqlDialect,
    SqliteDialect,
    _copy_text_line,
    dialect_for,
    fits,
    kind_of,
    to_db,
)

pytestmark = pytest.mark.timeout(30)


def test_identifiers_are_quoted_safely():
    d = SqlDialect()
    assert d.quote('we"ird; DROP TABLE x') == '"we""ird; DROP TABLE x"'
    assert d.qualified("s", "t") == '"s"."t"'
    with pytest.raises(ValueError, match="identifier"):
        d.quote("")


def test_kinds_and_what_fits():
    assert [kind_of(v) for v in (None, True, 1, 1.5, "x", {"a": 1}, [1])] == [
        None, "bool", "int", "float", "str", "json", "json",
    ]  # fmt: skip
    assert fits("int", "float")
    assert not fits("float", "int")
    assert not fits("str", "float")
    assert fits("str", "json")
    assert fits("str", "any")


def test_values_for_the_driver():
    assert to_db({"a": [1]}, "json") == '{"a":[1]}'
    assert to_db("x", "json") == '"x"'
    assert to_db(3, "int") == 3


def test_postgres_types_and_copy_escaping():
    pg = PostgresDialect()
    assert pg.column_type("json") == "JSONB"
    assert pg.kind_of_type("character varying(20)") == "str"
    assert pg.kind_of_type("timestamp with time zone") == "any"
    assert _copy_text_line((1, None, True, "a\tb\\c\nd")) == "1\t\\N\tt\ta\\tb\\\\c\\nd\n"


def test_dialect_is_chosen_by_the_hook_name():
    class Hook:
        placeholder = "?"

        def __init__(self, name: str) -> None:
            self.dialect_name = name

    assert type(dialect_for(Hook("postgresql"))) is PostgresDialect
    assert type(dialect_for(Hook("sqlite"))) is SqliteDialect
    generic = dialect_for(Hook("mssql"))
    assert type(generic) is SqlDialect
    assert generic.placeholder == "?"
