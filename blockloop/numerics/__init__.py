"""The numerics package."""
