"""Shared pytest configuration: fixture modules live in tests/fixtures/, one per real component."""

pytest_plugins = ["tests.fixtures.net"]
