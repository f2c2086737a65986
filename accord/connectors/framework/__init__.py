"""The declarative connector framework: streams, paginators, authenticators, mappings."""
