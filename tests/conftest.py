import sys
from pathlib import Path
import pytest
sys.path.insert(0, str(Path(__file__).parent))  # test-only helper scripts (check_pages.py) live beside the tests
from fetch_server import Server

@pytest.fixture(scope='module')
def server():
    "The loopback image server of `fetch_server.py`, one per test module."
    with Server() as s: yield s
