"""The test suite, a package like ``newsletter``: helpers are imported by their path from the repository root
(``from tests.delivery.fakes import ...``; pyproject.toml puts the root on pytest's ``pythonpath``)."""
