"""The tools package."""
