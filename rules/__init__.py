"""Decisions: what a report is about, where it goes, which ticket it belongs to, whether we may reply."""
