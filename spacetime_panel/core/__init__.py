"""The Controller and the /health composer."""
