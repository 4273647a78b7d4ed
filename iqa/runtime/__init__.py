"""Where and how a job executes: device, speed options, seeding, per-job hygiene, GPU slots."""
