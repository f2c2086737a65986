"""The sync engine: pages in, validated records upserted, events appended, bookmark moved."""
