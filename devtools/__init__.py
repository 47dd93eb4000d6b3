"""Tooling for developers and CI: local servers, audits, fuzzing. Not shipped."""
