"""YAML and CSV forms of a matrix: the same matrix either way, through the database too."""

from __future__ import annotations

from accord.platform.runtime import Runtime
from accord.policies import formats, service
from accord.policies.compile import compile_matrix
from accord.policies.raci import validate
from accord.policies.vocab import Letter
from tests.policies.conftest import (
    Partners,
    joint_emergency,
    management_review,
    supplier_quality,
)

DEMO = (supplier_quality, joint_emergency, management_review)


def test_yaml_csv_yaml_round_trip(partners: Partners) -> None:
    for document in DEMO:
        matrix, problems = formats.parse_yaml(document(partners))
        assert problems == []
        assert validate(matrix, known_tenants=None) == []
        as_csv = formats.dump_csv(matrix)
        from_csv, problems = formats.parse_csv(as_csv)
        assert problems == []
        assert from_csv == matrix
        again, problems = formats.parse_yaml(formats.dump_yaml(from_csv))
        assert problems == [] and again == matrix
        assert formats.dump_csv(again) == as_csv


def test_the_spreadsheet_reads_like_one(partners: Partners) -> None:
    matrix, _ = formats.parse_yaml(supplier_quality(partners))
    lines = formats.dump_csv(matrix).splitlines()
    g, n, m = partners.globex, partners.northwind, partners.meridian
    assert lines[:4] == [
        f"matrix,Supplier quality 2027 {partners.tag}",
        f"process,{partners.process('supplier-quality-2027')}",
        f"owners,{g}",
        "activity,record_type,actions,owners,"
        f"role:{g}/quality_manager,role:{n}/quality_manager,user:{n}/nadia,role:{m}/quality_manager",
    ]
    assert lines[4] == "Respond to findings,finding,respond propose_capa,,R,A,,I"
    assert lines[6] == "Verify and close findings,finding,verify close,,C,A,C,I"


def test_cells_may_hold_several_letters() -> None:
    text = (
        "matrix,Small\nowners,acme\n"
        "activity,record_type,actions,owners,role:acme/quality_manager,user:acme/ann\n"
        "Close,finding,close,,A/R,c\n"
    )
    matrix, problems = formats.parse_csv(text)
    assert problems == [] and matrix.process == "small"
    assert matrix.letters("Close", "role:acme/quality_manager") == {
        Letter.ACCOUNTABLE,
        Letter.RESPONSIBLE,
    }
    assert formats.dump_csv(matrix).splitlines()[-1] == "Close,finding,close,,R/A,C"


async def test_export_in_either_format_reimports_identically(
    runtime: Runtime, partners: Partners
) -> None:
    name = f"Network management review Q4 2026 {partners.tag}"
    async with runtime.control_session() as session:
        await service.import_matrix(session=session, text=management_review(partners), fmt="yaml")
        yaml_text = await service.export_matrix(session=session, name=name, fmt="yaml")
        csv_text = await service.export_matrix(session=session, name=name, fmt="csv")
        before, _ = await service.load_rules(session=session, domains=[partners.northwind])
    assert yaml_text == management_review(partners)  # the document as its authors wrote it
    async with runtime.control_session() as session:
        result = await service.import_matrix(session=session, text=csv_text, fmt="csv")
        after, _ = await service.load_rules(session=session, domains=[partners.northwind])
        assert await service.export_matrix(session=session, name=name, fmt="csv") == csv_text
    assert [(r.values, r.matrix, r.party) for r in after if r.matrix == name] == [
        (r.values, r.matrix, r.party) for r in before if r.matrix == name
    ]
    matrix, _ = formats.parse_yaml(yaml_text)
    assert result.matrix == matrix
    assert result.rules == len(compile_matrix(matrix))
