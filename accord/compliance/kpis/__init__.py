"""Key performance indicators, their measurements, and the governance items a breach opens."""
