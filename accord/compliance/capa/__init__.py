"""Corrective and preventive actions: root cause, actions, effectiveness check."""
