import sys
from pathlib import Path
import pytest
sys.path.insert(0, str(Path(__file__).parent))  # test-only helper scripts (check_pages.py) live beside the tests
from fetch_server import Server

@pytest.fixture(scope='module')
def server():
    "The loopback image server of `fetch_server.py`, one per test module."
    with Server() as s: yield s

# The course photos are looked up when a test first asks for them, never while tests are collected: on a machine
# without them, `lesson_data` fetches them from the web, which a `pytest --collect-only` must not do.

@pytest.fixture(scope='session')
def birds() -> Path:
    "The course's bird and forest photos, `lesson_data('birds')`."
    from fastbird.data import lesson_data
    return lesson_data('birds')

@pytest.fixture(scope='session')
def pets() -> Path:
    "The course's cat and dog photos, `lesson_data('pets')`."
    from fastbird.data import lesson_data
    return lesson_data('pets')
