"""What every compliance record shares; every domain builds on it, it imports none of them.

* ``models``: the columns of every record (identity, provenance, authorship) and
  enumerations stored as checked text.
* ``inputs``: services accept a schema instance or a plain mapping; invalid input becomes
  one ``BadInput`` naming the field and a reason code.
* ``provenance``: where a record came from, unique per (source system, external id).
* ``history``: every change appends to the owner's event log in the same transaction.
* ``refusals``: a refused attempt is written to the owner's event log on its own.
* ``actors``: the tenant an actor acts for.
* ``day``: the time and the day records are stamped with.
"""
