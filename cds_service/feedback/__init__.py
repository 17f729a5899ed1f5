"""Durable card log and CDS Hooks feedback (SQLAlchemy; SQLite by default, PostgreSQL in production)."""
