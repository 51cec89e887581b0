"""Alembic revisions, oldest first: each changes the schema of the one before."""
