"""``history(id)`` for every record type with an event log, own organisation only."""

from __future__ import annotations

from accord.graphql.relay import GlobalId
from accord.platform.runtime import Runtime
from tests.conftest import TenantFactory
from tests.factories.records import new_capa
from tests.graphql.conftest import Api

HISTORY = "query($id: ID!) { history(id: $id) { seq action actor } }"


async def test_a_capa_has_its_history_and_other_ids_are_refused(
    api: Api, runtime: Runtime, make_tenant: TenantFactory
) -> None:
    tenant = await make_tenant(label="hc")
    other = await make_tenant(label="ho")
    capa_id = await new_capa(runtime, tenant.slug)
    token = await api.sign_in(tenant, "qm", "quality_manager")
    gid = GlobalId("Capa", tenant.slug, capa_id).encode()
    body = await api.post(HISTORY, {"id": gid}, token=token)
    assert "errors" not in body, body
    actions = [h["action"] for h in body["data"]["history"]]
    assert actions[0] == "capa.created"
    seqs = [h["seq"] for h in body["data"]["history"]]
    assert seqs == sorted(seqs)
    # Another organisation's record: refused, whatever its type.
    foreign = await api.sign_in(other, "qm", "quality_manager")
    refused = await api.post(HISTORY, {"id": gid}, token=foreign)
    assert refused["data"] is None and refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # A global id of a type without a history.
    bogus = GlobalId("Tenant", tenant.slug, capa_id).encode()
    bad = await api.post(HISTORY, {"id": bogus}, token=token)
    assert bad["errors"][0]["extensions"]["reason"] == "BAD_ID"
