"""The test suite's own rules (issue 11): collecting the tests touches no photos and no network (the course photos come
from session fixtures in conftest.py, asked for by the tests that use them), and every test that needs an HTTP server
uses the one loopback server of tests/fetch_server.py."""
import os, re, sys, urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent

def under(paths, roots) -> list:
    "The paths that are inside one of the folders `roots`."
    roots = [os.path.realpath(r) for r in roots]
    inside = lambda p: any(p == r or p.startswith(r + os.sep) for r in roots)
    return [p for p in paths if inside(os.path.realpath(p))]

def photo_roots() -> list:
    "Where fastbird keeps photos and search results: the folders collecting must leave alone."
    from fastbird.data import data_root
    from fastbird.fetch import cache_dir
    return [data_root(), cache_dir()]

def test_collecting_touches_no_photos(collecting):
    """Collecting this run's tests (conftest.py recorded it) opened, listed and made nothing where the photos or the
    search cache live, and reached no host: so on a machine without the photos, collecting neither fetches nor fails."""
    assert any(p.endswith('test_suite.py') for p in collecting.paths), 'the record holds what collecting read'
    touched = under(collecting.paths, photo_roots())
    assert not touched, touched[:5]
    assert not collecting.hosts, collecting.hosts

def test_the_record_sees_photos_and_hosts(birds, server):
    "The record can fail: listing the photos, opening one and fetching a URL are each recorded."
    from fastai.vision.all import get_image_files
    from PIL import Image
    from conftest import Record
    r = Record(on=True)
    sys.addaudithook(r)
    try:
        Image.open(get_image_files(birds)[0]).close()
        urllib.request.urlopen(server.base + '/photo.jpg', timeout=10).close()
    finally: r.on = False
    assert len(under(r.paths, photo_roots())) >= 2 and r.hosts, (r.paths[-5:], r.hosts)

SERVERS = re.compile(r'\b(http\.server|socketserver|HTTPServer|BaseHTTPRequestHandler|ThreadingHTTPServer|\.listen\()')

def test_one_loopback_server():
    "A second server in the tests would drift from the first: every test that needs one uses `fetch_server.Server`."
    others = {f.name: m.group(0) for f in sorted(HERE.glob('*.py')) if f.name not in ('fetch_server.py', 'test_suite.py')
              for m in [SERVERS.search(f.read_text())] if m}
    assert not others, f'HTTP servers outside tests/fetch_server.py: {others}'
    assert SERVERS.search((HERE/'fetch_server.py').read_text())
