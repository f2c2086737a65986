"""Audits of one or more partners against clauses of several standards, and their teams."""
