"""The README's connection field reference says what ``fields.py`` defines (labels, grants, required)."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_oauth_connector.fields import FIELDS, GRANT_NAMES, SECTIONS, FieldSpec, grant_list

README = Path(__file__).parents[2] / "README.md"


def _applies(spec: FieldSpec) -> str:
    return "all" if spec.grants is None else grant_list(spec.grants)


def _required(spec: FieldSpec) -> str:
    if not spec.required_for:
        return ""
    if spec.requirement.startswith("required except"):
        base = "yes, " + spec.requirement.removeprefix("required ")
    else:
        base = "yes" if set(spec.required_for) == set(GRANT_NAMES) else grant_list(spec.required_for)
    return f"{base}, unless {spec.required_unless}" if spec.required_unless else base


def _default(spec: FieldSpec) -> str:
    if spec.default is None:
        return ""
    return f"`{str(spec.default).lower()}`" if isinstance(spec.default, bool) else f"`{spec.default}`"


def _text(text: str) -> str:
    return text.replace("|", "\\|")


def form_rows() -> list[str]:
    """The form fields' table rows, in form order."""
    specs = [spec for section in SECTIONS for spec in FIELDS if spec.section == section and spec.in_form]
    return [
        f"| {s.form_label} | `{s.name}` | {_applies(s)} | {_required(s)} | {_text(s.description)} | {_default(s)} |"
        for s in specs
    ]


def extra_json_rows() -> list[str]:
    """The advanced keys' table rows (set in the form's Extra Fields JSON)."""
    return [f"| `{s.name}` | {s.label} | {_applies(s)} | {_text(s.description)} |" for s in FIELDS if not s.in_form]


@pytest.mark.parametrize("row", form_rows() + extra_json_rows())
def test_readme_has_the_row(row):
    assert row in README.read_text(encoding="utf-8").splitlines(), (
        f"README row out of date (python -m tests.unit.test_readme_fields rewrites them); expected:\n{row}"
    )


def test_readme_rows_are_in_form_order():
    lines = README.read_text(encoding="utf-8").splitlines()
    positions = [lines.index(row) for row in form_rows() if row in lines]
    assert positions == sorted(positions)


def rewrite_readme() -> None:
    """Write the current rows into the README's two field tables (``python -m tests.unit.test_readme_fields``)."""
    lines = README.read_text(encoding="utf-8").split("\n")
    for header, rows in (
        ("| Form label | Key | Grant types | Required | Meaning | Default |", form_rows()),
        ("| Key | Label (in problems) | Grant types | Meaning |", extra_json_rows()),
    ):
        start = lines.index(header) + 2
        end = start
        while lines[end].startswith("|"):
            end += 1
        lines[start:end] = rows
    README.write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    rewrite_readme()
