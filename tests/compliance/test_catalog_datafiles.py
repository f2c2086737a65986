"""The standards catalog data files and their pure loader (no database)."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from accord.compliance.catalog.datafiles import (
    CatalogDataError,
    CatalogStandard,
    catalog_digest,
    data_files,
    load_catalog,
    load_standard,
)
from accord.compliance.vocab import ClauseKey, StandardKind

QMS, EMS, OHS = "iso9001:2015", "iso14001:2015", "iso45001:2018"
ISMS, BCMS = "iso27001:2022", "iso22301:2019"
CRISIS, ERM = "iso22361:2022", "iso31000:2018"
REQUIREMENTS = (QMS, EMS, OHS, ISMS, BCMS)
GUIDANCE = (CRISIS, ERM)

# The Harmonized Structure clauses every requirement standard shares (2021 HS numbering).
HS_SHARED = (
    "4", "4.1", "4.2", "4.3", "4.4",
    "5", "5.1", "5.2", "5.3",
    "6", "6.1", "6.2",
    "7", "7.1", "7.2", "7.3", "7.4", "7.5", "7.5.1", "7.5.2", "7.5.3",
    "8", "8.1",
    "9", "9.1", "9.2", "9.3",
    "10", "10.1", "10.2",
)  # fmt: skip


@pytest.fixture(scope="module")
def catalog() -> dict[str, CatalogStandard]:
    return {standard.id: standard for standard in load_catalog()}


def annex_a_controls(standard: CatalogStandard, theme: str | None = None) -> list[str]:
    prefix = f"{theme}." if theme else "A."
    return [
        c.number
        for c in standard.clauses
        if c.number.startswith(prefix) and c.depth == 3 and c.parent_number is not None
    ]


# --------------------------------------------------------------------------- the catalog


def test_seven_standards_load_from_the_package_data(catalog: dict[str, CatalogStandard]) -> None:
    assert sorted(catalog) == sorted((*REQUIREMENTS, *GUIDANCE))
    assert len(data_files()) == 7
    for standard in catalog.values():
        assert standard.version >= 1
        assert standard.id.endswith(f":{standard.year}")
        assert standard.clauses


def test_kinds(catalog: dict[str, CatalogStandard]) -> None:
    for sid in REQUIREMENTS:
        assert catalog[sid].kind is StandardKind.REQUIREMENTS
    for sid in GUIDANCE:
        assert catalog[sid].kind is StandardKind.GUIDANCE
    assert catalog[ISMS].number == "ISO/IEC 27001"
    assert catalog[QMS].number == "ISO 9001"


def test_iso27001_annex_a_has_93_controls_in_four_themes(
    catalog: dict[str, CatalogStandard],
) -> None:
    isms = catalog[ISMS]
    root = isms.clause("A")
    assert root.title == "Information security controls (Annex A)"
    assert root.parent_number is None
    themes = [c for c in isms.clauses if c.parent_number == "A"]
    assert [(t.number, t.title) for t in themes] == [
        ("A.5", "Organizational controls"),
        ("A.6", "People controls"),
        ("A.7", "Physical controls"),
        ("A.8", "Technological controls"),
    ]
    assert len(annex_a_controls(isms)) == 93
    expected = {"A.5": 37, "A.6": 8, "A.7": 14, "A.8": 34}
    for theme, count in expected.items():
        numbers = annex_a_controls(isms, theme)
        assert numbers == [f"{theme}.{i}" for i in range(1, count + 1)]
    assert isms.clause("A.5.1").title == "Policies for information security"
    assert isms.clause("A.5.7").title == "Threat intelligence"
    assert isms.clause("A.8.34").title == "Protection of information systems during audit testing"
    assert isms.clause("A.8.34").key == "iso27001:2022/A.8.34"


def test_iso27001_has_clauses_4_to_10(catalog: dict[str, CatalogStandard]) -> None:
    top = [c.number for c in catalog[ISMS].clauses if c.depth == 1]
    assert top == ["4", "5", "6", "7", "8", "9", "10", "A"]
    assert catalog[ISMS].clause("6.1.3").title == "Information security risk treatment"
    assert catalog[ISMS].clause("6.3").title == "Planning of changes"


@pytest.mark.parametrize("sid", REQUIREMENTS)
def test_requirement_standards_carry_the_harmonized_structure(
    catalog: dict[str, CatalogStandard], sid: str
) -> None:
    standard = catalog[sid]
    hs = [c for c in standard.clauses if c.hs]
    refs = [c.hs_ref for c in hs]
    assert len(refs) == len(set(refs)), "one clause per HS twin"
    for ref in HS_SHARED:
        twin = standard.hs_twin(ref)
        assert twin is not None, f"{sid} has no twin of HS {ref}"
        assert twin.hs
    for clause in standard.clauses:
        assert (clause.hs_ref is not None) == clause.hs
    assert [c.number for c in standard.clauses if c.depth == 1][:7] == [
        "4", "5", "6", "7", "8", "9", "10",
    ]  # fmt: skip


def test_hs_twins_follow_each_standards_own_numbering(catalog: dict[str, CatalogStandard]) -> None:
    # 2015/2018 standards: 10.1 General, 10.2 nonconformity, 10.3 continual improvement.
    for sid in (QMS, EMS, OHS):
        standard = catalog[sid]
        assert standard.clause("10.1").title == "General"
        assert not standard.clause("10.1").hs
        assert standard.hs_twin("10.1") == standard.clause("10.3")
        assert standard.clause("10.3").title == "Continual improvement"
        assert standard.hs_twin("10.2") == standard.clause("10.2")
    assert catalog[QMS].clause("10.2").title == "Nonconformity and corrective action"
    assert catalog[OHS].clause("10.2").title == "Incident, nonconformity and corrective action"
    # ISO 22301:2019 has the two improvement clauses the other way round from the 2021 HS.
    bcms = catalog[BCMS]
    assert bcms.hs_twin("10.1") == bcms.clause("10.2")
    assert bcms.hs_twin("10.2") == bcms.clause("10.1")
    assert bcms.clause("10.1").title == "Nonconformity and corrective action"
    # ISO/IEC 27001:2022 follows the 2021 HS exactly.
    isms = catalog[ISMS]
    assert isms.hs_twin("10.1") == isms.clause("10.1")
    assert isms.clause("10.1").title == "Continual improvement"
    # 6.3 Planning of changes only where the standard has it.
    assert {sid for sid in REQUIREMENTS if catalog[sid].hs_twin("6.3")} == {QMS, ISMS, BCMS}
    # Discipline-specific clauses are not HS clauses.
    assert not catalog[OHS].clause("5.4").hs
    assert not catalog[QMS].clause("8.4").hs
    assert not catalog[ISMS].clause("A.5.1").hs


@pytest.mark.parametrize("ref", ["4.1", "7.5.3", "9.2", "10.2"])
def test_every_requirement_standard_pairs_with_every_other_through_hs_ref(
    catalog: dict[str, CatalogStandard], ref: str
) -> None:
    twins = {sid: catalog[sid].hs_twin(ref) for sid in REQUIREMENTS}
    assert all(twin is not None for twin in twins.values())
    assert len({twin.key for twin in twins.values() if twin is not None}) == len(REQUIREMENTS)


@pytest.mark.parametrize("sid", GUIDANCE)
def test_guidance_standards_have_no_hs_clauses(
    catalog: dict[str, CatalogStandard], sid: str
) -> None:
    standard = catalog[sid]
    assert standard.kind is StandardKind.GUIDANCE
    assert not any(c.hs for c in standard.clauses)
    assert all(c.hs_ref is None for c in standard.clauses)


def test_iso31000_structure(catalog: dict[str, CatalogStandard]) -> None:
    erm = catalog[ERM]
    assert [c.number for c in erm.clauses if c.depth == 1] == ["4", "5", "6"]
    assert [c.title for c in erm.clauses if c.depth == 1] == ["Principles", "Framework", "Process"]
    assert [c.number for c in erm.clauses if c.parent_number == "5"] == [
        f"5.{i}" for i in range(1, 8)
    ]
    assert [c.number for c in erm.clauses if c.parent_number == "6"] == [
        f"6.{i}" for i in range(1, 8)
    ]
    assert erm.clause("6.4").title == "Risk assessment"
    assert erm.clause("6.7").title == "Recording and reporting"


def test_iso22361_structure(catalog: dict[str, CatalogStandard]) -> None:
    crisis = catalog[CRISIS]
    assert [c.number for c in crisis.clauses if c.depth == 1] == ["4", "5", "6", "7", "8", "9"]
    assert crisis.clause("6").title == "Crisis leadership"
    assert crisis.clause("8").title == "Crisis communication"


def test_known_titles(catalog: dict[str, CatalogStandard]) -> None:
    qms, ems, ohs, bcms = catalog[QMS], catalog[EMS], catalog[OHS], catalog[BCMS]
    assert (
        qms.clause("8.4").title == "Control of externally provided processes, products and services"
    )
    assert qms.clause("7.1.5.2").title == "Measurement traceability"
    assert qms.clause("7.1.5.2").depth == 4
    assert ems.clause("8.1").title == "Operational planning and control"
    assert ems.clause("6.1.3").title == "Compliance obligations"
    assert ohs.clause("5.4").title == "Consultation and participation of workers"
    assert ohs.clause("5").title == "Leadership and worker participation"
    assert bcms.clause("8").title == "Operation"
    assert bcms.clause("8.2").title == "Business impact analysis and risk assessment"
    assert [c.number for c in bcms.clauses if c.parent_number == "8"] == [
        f"8.{i}" for i in range(1, 7)
    ]
    assert (
        bcms.clause("8.6").title
        == "Evaluation of business continuity documentation and capabilities"
    )


def test_keys_are_unique_and_parse_as_clause_keys(catalog: dict[str, CatalogStandard]) -> None:
    keys = [c.key for s in catalog.values() for c in s.clauses]
    assert len(keys) == len(set(keys))
    for standard in catalog.values():
        for clause in standard.clauses:
            assert clause.key == f"{standard.id}/{clause.number}"
            assert clause.standard_id == standard.id
            parsed = ClauseKey.parse(clause.key)
            assert (parsed.standard, parsed.number) == (standard.id, clause.number)


def test_trees_are_consistent(catalog: dict[str, CatalogStandard]) -> None:
    for standard in catalog.values():
        assert [c.position for c in standard.clauses] == list(range(len(standard.clauses)))
        by_number = {c.number: c for c in standard.clauses}
        for clause in standard.clauses:
            if clause.parent_number is None:
                assert clause.depth == 1
                continue
            parent = by_number[clause.parent_number]
            assert parent.position < clause.position
            assert clause.depth == parent.depth + 1
            assert clause.number.startswith(parent.number + ".")


def test_titles_are_headings_never_requirement_text(
    catalog: dict[str, CatalogStandard],
) -> None:
    shall = re.compile(r"\bshall\b", re.IGNORECASE)
    for standard in catalog.values():
        for clause in standard.clauses:
            assert clause.title.strip() == clause.title != ""
            assert len(clause.title) < 120, clause.key
            assert not shall.search(clause.title), clause.key
            assert "\n" not in clause.title


def test_load_standard_reads_a_single_file(catalog: dict[str, CatalogStandard]) -> None:
    path = next(p for p in data_files() if p.name == "iso9001-2015.yaml")
    assert load_standard(path) == catalog[QMS]


# --------------------------------------------------------------------------- digest


def test_digest_is_stable_order_free_and_sensitive_to_content(
    catalog: dict[str, CatalogStandard],
) -> None:
    standards = list(catalog.values())
    digest = catalog_digest(standards)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert catalog_digest(reversed(standards)) == digest
    assert catalog_digest(load_catalog()) == digest

    qms = catalog[QMS]
    retitled = dataclasses.replace(
        qms,
        clauses=tuple(
            dataclasses.replace(c, title=c.title + " (edited)") if c.number == "9.2" else c
            for c in qms.clauses
        ),
    )
    bumped = dataclasses.replace(qms, version=qms.version + 1)
    for changed in (retitled, bumped):
        others = [s for s in standards if s.id != QMS]
        assert catalog_digest([*others, changed]) != digest
    assert catalog_digest([s for s in standards if s.id != QMS]) != digest


# --------------------------------------------------------------------------- bad files

MALFORMED = """\
id: "iso9999:2020"
title: Broken management systems — Requirements
number: ISO 9999
year: 2020
kind: requirement
version: 1
clauses:
  - number: "4"
    title: Context of the organization
    hs: true
    colour: blue
    children:
      - number: "4.1"
        title: Understanding the organization and its context
        hs: true
      - number: "4.1"
        title: Understanding it again
      - number: "5.2"
        title: Policy in the wrong place
  - number: "5"
    title: The organization shall demonstrate leadership
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(CatalogDataError) as caught:
        load_standard(path)
    return caught.value.problems


def test_a_malformed_file_reports_all_its_problems(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, "iso9999-2020.yaml", MALFORMED))

    expected = [
        "kind: Input should be 'requirements' or 'guidance'",
        "clauses[0].colour: unknown key",
        "clauses[0].children[1].number: duplicate clause number '4.1'",
        "clauses[0].children[2].number: clause '5.2' is not a direct sub-clause of its parent '4'",
        "clauses[1].title: title contains 'shall'",
    ]
    for fragment in expected:
        assert any(fragment in p for p in problems), (fragment, problems)
    assert len(problems) == len(expected)
    assert all(p.startswith("iso9999-2020.yaml: ") for p in problems)


def test_the_error_message_lists_every_problem(tmp_path: Path) -> None:
    with pytest.raises(CatalogDataError, match="5 problems") as caught:
        load_standard(write(tmp_path, "iso9999-2020.yaml", MALFORMED))
    for problem in caught.value.problems:
        assert problem in str(caught.value)


def test_id_must_match_the_file_name(tmp_path: Path) -> None:
    text = MALFORMED.replace("kind: requirement\n", "kind: requirements\n")
    problems = problems_of(write(tmp_path, "iso9001-2015.yaml", text))
    assert any(
        p.startswith("iso9001-2015.yaml: id: id 'iso9999:2020' does not match the file name")
        for p in problems
    )


def test_unquoted_numbers_and_bad_hs_use_are_rejected(tmp_path: Path) -> None:
    text = """\
id: "iso31000:2018"
title: Risk management — Guidelines
number: ISO 31000
year: 2017
kind: guidance
version: 0
clauses:
  - number: 4
    title: Principles
  - number: "5"
    title: Framework
    hs: true
    children:
      - number: "5.1"
        title: General
        hs_ref: "5.1"
      - number: "5.1.1"
        title: Too deep for its parent
"""
    problems = problems_of(write(tmp_path, "iso31000-2018.yaml", text))
    expected = [
        "clauses[0].number: Input should be a valid string (quote clause numbers",
        "year: year 2017 does not match the id 'iso31000:2018'",
        "version: version must be at least 1",
        "clauses[1].hs: a guidance standard has no Harmonized Structure clauses",
        "clauses[1].children[0].hs_ref: hs_ref is only allowed on a clause with hs: true",
        "clauses[1].children[1].number: clause '5.1.1' is not a direct sub-clause of its "
        "parent '5'",
    ]
    for fragment in expected:
        assert any(fragment in p for p in problems), (fragment, problems)
    assert len(problems) == len(expected)


def test_duplicate_hs_twins_and_duplicate_yaml_keys_are_rejected(tmp_path: Path) -> None:
    text = """\
id: "iso9999:2020"
title: Twins
number: ISO 9999
year: 2020
kind: requirements
version: 1
version: 2
clauses:
  - number: "10"
    title: Improvement
    hs: true
    children:
      - number: "10.1"
        title: Continual improvement
        hs: true
      - number: "10.2"
        title: More continual improvement
        hs: true
        hs_ref: "10.1"
"""
    problems = problems_of(write(tmp_path, "iso9999-2020.yaml", text))
    assert any("line 7: duplicate key 'version'" in p for p in problems), problems
    assert any(
        "clauses[0].children[1].hs_ref: Harmonized Structure twin '10.1' is already claimed" in p
        for p in problems
    ), problems


def test_invalid_yaml_and_non_mapping_documents(tmp_path: Path) -> None:
    assert any(
        "not valid YAML" in p
        for p in problems_of(write(tmp_path, "iso1-2020.yaml", "id: [unclosed\n"))
    )
    assert any(
        "must be a mapping" in p
        for p in problems_of(write(tmp_path, "iso2-2020.yaml", "- just\n- a list\n"))
    )


def test_load_catalog_collects_the_problems_of_every_file(tmp_path: Path) -> None:
    write(tmp_path, "iso9999-2020.yaml", MALFORMED)
    write(tmp_path, "iso8888-2020.yaml", MALFORMED.replace("9999", "8888"))
    write(tmp_path, "README.txt", "not a standard")
    with pytest.raises(CatalogDataError) as caught:
        load_catalog(tmp_path)
    files = {p.split(":", 1)[0] for p in caught.value.problems}
    assert files == {"iso9999-2020.yaml", "iso8888-2020.yaml"}
    assert len(caught.value.problems) == 10


def test_load_catalog_from_a_directory_and_an_empty_directory(tmp_path: Path) -> None:
    source = next(p for p in data_files() if p.name == "iso31000-2018.yaml")
    write(tmp_path, "iso31000-2018.yaml", source.read_text(encoding="utf-8"))
    (standard,) = load_catalog(tmp_path)
    assert standard.id == ERM
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CatalogDataError, match=r"no \.yaml standard files"):
        load_catalog(empty)
