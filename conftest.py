"""pytest configuration of the whole project.

`pytest --nbval-lax notebooks solutions` does not execute the student exercise notebooks that
`make exercises` writes into notebooks/: each stops at its first `raise NotImplementedError` by design.
Their sources in solutions/ run instead and must pass their checks; tests/exercises/test_generate.py
checks that the student versions are up to date, free of solution code and valid Python.
"""
from tinyrec.exercises.generate import is_student_notebook


def pytest_ignore_collect(collection_path, config):
    if collection_path.suffix == ".ipynb" and is_student_notebook(collection_path):
        return True
    return None
