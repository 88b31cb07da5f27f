"""Shared pytest options: ``--fuzz-long`` runs the fuzz tests (tests/test_fuzz.py) for long
(>= 10,000 calls each for the public API and the raw kernel entry) instead of the quick CI run."""


def pytest_addoption(parser):
    parser.addoption("--fuzz-long", action="store_true", default=False,
                     help="run the public-API and raw-kernel fuzz tests for long")
