"""Transfer of a finding's ownership to another tenant: two-party agreed, moved without loss.

A finding sometimes belongs to someone else (a supplier's nonconformity found in the
buyer's audit). Records are never copied between tenants (DESIGN.md, the one rule), so a
change of owner is a *move*: the record leaves the sender's schema and store and arrives in
the receiver's, under an explicit transfer both organisations agreed to.

Agreement
    Either party proposes (``propose_transfer``): the current owner ("sender") or the
    receiver. The proposer's side counts as agreed; the other party accepts
    (``accept_transfer``) or declines (``decline_transfer``); the proposer may withdraw
    (``cancel_transfer``). One live transfer per finding. Every refused attempt — accepting
    one's own proposal, a third tenant acting, a transfer no longer proposed, a closed
    finding, a finding the sender does not hold — raises an ``AccordError`` with a reason
    code, changes nothing, and is appended (``finding.transfer_refused``) to the event log
    of the finding's owner in a transaction of its own, since the refused one rolls back.

What moves
    The finding row and the metadata rows of its evidence (the artefacts themselves stay
    where their ``uri`` points), with the same ids and every column unchanged but one:
    ``audit_id``. The audit is the sender's record and stays with it; the moved row has no
    ``audit_id`` and the transfer (control plane) and both events keep it as a cross-tenant
    reference (``source_audit_id``). The provenance note of the moved record is the
    ``finding.transferred_in`` event (from whom, which transfer, the content digest) with
    the transfer row behind it; the record's own provenance columns (source system,
    external id, fetched at, content hash) travel unchanged.

CAPA links: refused, not re-pointed
    A finding that any CAPA links (``capa_findings``), or whose evidence also belongs to a
    CAPA, is not transferable (``CAPA_LINKED``). Both alternatives lose something: the link
    rows would be cascaded away with the source row (the CAPA would silently stop covering
    the finding), and a cross-tenant link would leave the sender's CAPA verifying a finding
    it can no longer read. The parties unlink (or finish) the CAPA first, or keep the
    finding where it is.

The move (``complete_transfer``): a saga across two stores, no distributed transaction
    0. A control-plane advisory lock on the transfer makes concurrent runs wait their turn
       (refused with ``TRANSFER_IN_PROGRESS``).
    1. In one transaction in the sender's store the finding and its evidence are read and
       locked ``FOR UPDATE`` (no change, no new link, no new evidence while the move runs)
       and checked again. In the receiver's store the rows are written with the same ids
       and ``finding.transferred_in`` is appended; that transaction commits. The transfer
       row records ``copied_at`` and the content digest.
    2. The copy is read back from the receiver's store and its digest compared with the
       source's: only if the contents are equal are the source rows deleted and
       ``finding.transferred_out`` (same digest) appended; the sender's transaction
       commits. The transfer row records ``source_removed_at``.
    3. The transfer is marked ``completed``.
    Every step is idempotent and the transfer row records progress, so a move interrupted
    anywhere is rolled forward by calling ``complete_transfer`` again: a copy already
    present with the same digest is not written twice, a source already removed (its
    ``transferred_out`` event is in the sender's log) is not looked for, and the result is
    exactly one copy. A copy left by an interrupted run that no longer matches the source
    (either side changed meanwhile; it was never authoritative) is replaced. If the finding
    no longer qualifies when the move runs (closed, linked to a CAPA meanwhile), the move is
    aborted: any staging copy is removed again, both logs record ``finding.transfer_aborted``
    and the transfer ends ``aborted``. Until step 2 commits the sender's row is the record.
"""
