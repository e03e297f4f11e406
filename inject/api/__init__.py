"""inject-api: the subset of the Compute API that legacy clients use to boot servers
with personality files and rebuild them with user_data."""
