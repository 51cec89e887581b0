"""The store's Alembic environment (``env.py``) and revisions (``versions/``), run in process."""
