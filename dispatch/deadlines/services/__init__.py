"""deadlines services."""
