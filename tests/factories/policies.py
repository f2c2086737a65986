"""RACI matrices that fail validation."""

from __future__ import annotations

from tests.policies.conftest import Partners


def bad_yaml(p: Partners) -> str:
    g, n = p.globex, p.northwind
    return f"""
name: Broken matrix {p.tag}
process: {p.process("broken")}
owners: [{g}, nowhere_ltd]
parties:
  - role:{g}/quality_manager
  - role:{n}/quality_manager
  - role:{n}/quality_manager
  - role:{n}/chief_wizard
  - user:ghost_corp/casper
activities:
  - {{name: Two accountables, record_type: finding, actions: [respond, close]}}
  - {{name: No accountable, record_type: finding, actions: [respond]}}
  - {{name: Odd type, record_type: spaceship, actions: [launch]}}
raci:
  Two accountables: {{role:{g}/quality_manager: A, role:{n}/quality_manager: A}}
  No accountable: {{role:{g}/quality_manager: R, role:{n}/quality_manager: X}}
  Odd type: {{role:{n}/chief_wizard: A, user:ghost_corp/casper: R}}
  Not an activity: {{role:{g}/quality_manager: A, role:{g}/auditor: C}}
"""
