"""Management reviews (ISO clause 9.3): compiled inputs, minutes, decisions, freezing."""
