"""The finding workflow: the one package above the audit chain.

The chain's records form a line -- audits <- findings <- capa <- evidence (a finding names
its audit, a CAPA its findings, evidence its finding or CAPA) -- and each domain package
reads only down it. What reads up and down the whole chain at once lives here, so no
domain package depends on one above it:

* ``service``: raising a finding and its life cycle, whose guards read its CAPAs'
  actions and its evidence;
* ``guards`` and ``deadlines``: the agreed closing protocol of a joint audit, applied to
  its findings (who acts, which evidence closing needs, response and CAPA-plan deadlines);
* ``transfers/``: moving a finding, with its evidence, to another owner.
"""
