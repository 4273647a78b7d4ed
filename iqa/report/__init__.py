"""What runs and sweeps leave behind for people: run-folder scans, tables, plots."""
