"""Cross-tenant reads of compliance records: both gates, the granted level, the access log.

``reads.read_records`` is the one read path; ``fields`` declares what each level shows.
"""
