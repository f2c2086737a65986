"""The agreed closing protocol of a joint audit, and the guards the finding workflow obeys.

A protocol is agreed when a joint audit is planned and stored with the audit in the
audited tenant's schema: the programme's default (``define_programme_protocol``), with
the plan's own choices on top.

===========================  =================================================================
``response_days``            the auditee responds within this many days of the raising
``capa_plan_days``           a nonconformity has its CAPA planned within this many days
``verifier_tenant``          whose Accountable party verifies and closes (default: the lead)
``required_evidence_types``  media types (``application/pdf``, ``image/*``) closing needs
``recheck_after_days``       closing schedules an effectiveness re-check this much later
``process``                  the shared process (RACI matrix) acting on the audit's records
===========================  =================================================================

The finding workflow (``accord.compliance.workflow``: ``service``, with its ``guards`` and
``deadlines``) holds every finding of an audit that has a protocol to it (other findings
behave as before):

* raising: an in-window lead auditor or auditor of another tenant than the audited one;
* responding, planning and implementing CAPA: the audited tenant (its Responsible party,
  its auditee representative);
* verifying, closing, reopening: the verifier tenant — never the audited one, never the
  person who responded; closing also needs evidence of every required type captured
  after the finding was raised. Reopening needs a reason (the state machine's guard).

Team membership runs from ``valid_from`` (default: the window's start) to ``valid_until``
(default: its end) and never outside the window, so it expires by itself.

Refusals raise with a reason and change nothing: the caller's transaction rolls back, so
the caller writes the attempt with ``records.refusals.record_refusal`` in a transaction of
its own.
``workflow.deadlines.flag_overdue`` marks findings past a deadline and notifies the
Accountable party. Here: the tables (``models``), the terms (``schemas``), agreeing them
(``service``) and the team's fit (``team``).
"""
