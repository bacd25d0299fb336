"""Framework-free helpers for the matching app (no Django imports here)."""
