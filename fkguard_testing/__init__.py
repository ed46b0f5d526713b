"""Test and benchmark support, outside the fkguard package and its wheel: the PostgreSQL test
cluster's fixtures (fixtures.py, a pytest plugin the root conftest.py registers for tests/ and
policies/ alike) and the disposable project copy driven through the real pulumi CLI (scratch.py),
used by the tests and by bench/."""
