"""The Jsonnet generators, shipped as package data (see pyproject.toml)."""
