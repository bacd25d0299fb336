"""Framework-free helpers shared by every app (no Django imports here)."""
