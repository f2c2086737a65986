"""Incident reports and the partner notifications they owe, with deadlines by severity."""
