"""Shared kernel: database, configuration, accounts, audit, reference data."""
