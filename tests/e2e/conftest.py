"""Browser tests: the `browser_page` fixture and `log_in` live in tests/conftest.py, shared by every browser test."""
