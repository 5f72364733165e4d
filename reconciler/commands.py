"""Commands beyond ``validate`` are registered here (filled in as the reconciler grows)."""
