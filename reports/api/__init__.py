"""The read-only REST API: official releases and public report aggregates.

Releases are served from their stored tables (reports.models.Release), exactly as
approved; the live aggregates come from reports.selectors, as on the report pages. Neither
ever names a held-out task. The OpenAPI schema is at /api/schema/ and its browsable
documentation at /api/docs/; docs/api.md describes the API for its users.
"""
