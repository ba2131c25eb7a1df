"""Importers of official occupational files: O*NET, BLS OEWS, taxonomy and crosswalk CSVs."""
