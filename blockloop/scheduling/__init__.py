"""The scheduling package."""
