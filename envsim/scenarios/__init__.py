"""Scenario catalogs: concrete conversations with expectations, replayed offline or run live, and their
evaluation (success per scenario, pass^k). See docs/scenarios.md."""
