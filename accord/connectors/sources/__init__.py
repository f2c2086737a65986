"""One package per source system; each exports ``SOURCE`` (a ``SourceSpec``)."""
