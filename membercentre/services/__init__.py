"""Member-centre services (every write of the app)."""
