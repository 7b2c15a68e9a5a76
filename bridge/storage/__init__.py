"""Persistence. The only package that imports SQLAlchemy; it hands out plain values."""
