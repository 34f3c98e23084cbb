"""Device lifecycle: last seen and where, missing / moved / new, utilization, end of support."""
