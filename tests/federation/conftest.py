"""Federation fixtures live in tests/conftest.py (shared with the app tests)."""
