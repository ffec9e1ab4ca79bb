"""Waveform ingest: drop folder, SeedLink/FDSN fetch, validation, quarantine and the SDS archive."""
