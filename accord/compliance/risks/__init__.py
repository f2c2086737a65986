"""The risk register: likelihood × impact, treatment, and third-party dependencies."""
