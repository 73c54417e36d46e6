"""Training: options files, cached patch data, the loop with exact resume."""
