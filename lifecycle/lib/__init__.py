"""Framework-free helpers of the lifecycle workflows (no Django import)."""
