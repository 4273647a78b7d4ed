"""Training: one run from config to run folder, the fit loop and what it keeps."""
