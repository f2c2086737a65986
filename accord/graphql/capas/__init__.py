"""CAPA in the gateway: the cross-entity mutations (one per file) and ``capaCoverage``.

Every mutation passes both gates: the owner shares ``capa`` with the caller's
organisation (or is it), and the action gate grants the step on the owner's records under
the shared process named (RACI). The change is made in the owner's tenant session; a
refusal after the sovereignty gate is written to the owner's event log.
"""
