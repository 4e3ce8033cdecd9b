"""Constants shared by the provider tests (a uniquely named module: `from conftest import ...` is
ambiguous when several test folders are collected together)."""

TEST_KEY = "sk-test-SECRET-0123456789"  # the fake server's key; must never appear in errors or logs
