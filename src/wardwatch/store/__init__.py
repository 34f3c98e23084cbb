"""Storage: one schema (SQLAlchemy 2 + Alembic migrations) on SQLite (default) or PostgreSQL."""
