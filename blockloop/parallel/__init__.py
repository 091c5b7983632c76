"""The parallel package."""
