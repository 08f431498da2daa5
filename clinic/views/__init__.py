"""Clinician pages of the clinic app, one module per domain: chart, imaging, genomics, audit review."""
