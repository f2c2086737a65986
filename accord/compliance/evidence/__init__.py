"""Evidence: hashed artefacts filed against findings, CAPA or clauses."""
