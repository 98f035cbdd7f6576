import os, sys
from pathlib import Path
import pytest
sys.path.insert(0, str(Path(__file__).parent))  # the test helpers (elsewhere.py, saved.py, fetch_server.py) beside the tests
sys.path.insert(1, str(Path(__file__).parents[1]/'tools'))  # and the tools they test or share (check_pages.py, chromium.py)
from fetch_server import Server

class Record:
    "An audit hook (PEP 578): while `on`, records the files and folders opened, listed or made, and the hosts reached."
    def __init__(self, on=False): self.on, self.paths, self.hosts = on, [], []
    def __call__(self, event, args):
        if not self.on: return
        if event in ('open', 'os.listdir', 'os.scandir', 'os.mkdir') and isinstance(args[0], (str, bytes, os.PathLike)):
            self.paths.append(os.path.abspath(os.fsdecode(args[0])))
        elif event == 'socket.connect': self.hosts.append(args[1])
        elif event == 'socket.getaddrinfo': self.hosts.append(args[0])

# Collecting the tests touches no photos and no network (tests/test_suite.py checks): from here until pytest has
# collected the tests, this records what the collecting opened, listed, made and reached. Audit hooks stay for the
# life of the process; this one does nothing once `on` is False.
COLLECTING = Record(on=True)
sys.addaudithook(COLLECTING)

def pytest_collection_finish(session): COLLECTING.on = False

@pytest.fixture
def collecting() -> Record:
    "What collecting this run's tests opened, listed, made and reached (in this worker, which collected them all)."
    return COLLECTING

@pytest.fixture(scope='module')
def server():
    "The loopback image server of `fetch_server.py`, one per test module."
    with Server() as s: yield s

# The course photos are looked up when a test first asks for them, never while tests are collected: on a machine
# without them, `lesson_data` fetches them from the web, which collecting the tests must not do (test_suite.py).

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

@pytest.fixture(scope='session')
def trained(birds, tmp_path_factory):
    """A model, trained once per test run (per worker) for every test that needs one: the linear probe `train` fits on
    8 bird and 8 forest photos at 96 pixels, saved. (its `TrainResult`, the folder of its photos). Tests copy the
    model folder before they change anything in it."""
    from fastbird.learner import train
    from photos import ARCH, small_copy
    d = small_copy(birds, tmp_path_factory.mktemp('trained')/'photos', n=8)
    return train(d, d.parent/'model', arch=ARCH, size=96, verbose=False), d

# Two workers share the tests as they come: the long ones go first, so that both finish at about the same time rather
# than one running the last long test alone. Longest first, roughly as measured on 2 cores.
LONG = ['test_every_docs_page', 'lesson/04_learner', 'test_browser.py', 'test_app.py', 'lesson/06_homework',
        'further/00_why', 'further/01_command_line', 'lesson/00_is_it_a_bird', 'test_library_page[11',
        'test_library_page[08', 'test_notebook_runs_where_learners_are', 'test_library_page']

def pytest_collection_modifyitems(items):
    "Put the long tests first, longest first; the others keep their order."
    rank = lambda item: next((i for i, s in enumerate(LONG) if s in item.nodeid), len(LONG))
    items.sort(key=rank)  # a stable sort
