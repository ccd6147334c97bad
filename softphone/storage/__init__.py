"""SQLite storage adapter."""
