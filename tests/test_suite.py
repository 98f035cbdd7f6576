"""The test suite's own rules (issue 11): collecting the tests touches no photos and no network (the course photos come
from session fixtures in conftest.py, asked for by the tests that use them), and every test that needs an HTTP server
uses the one loopback server of tests/fetch_server.py."""
import os, re, subprocess, sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

def test_collecting_touches_no_photos(tmp_path):
    "On a machine without the course photos, `pytest --collect-only` neither fetches them nor fails for want of them."
    empty, cache = tmp_path/'no-photos', tmp_path/'cache'
    empty.mkdir()
    env = {**os.environ, 'FASTBIRD_DATA': str(empty), 'FASTBIRD_CACHE': str(cache), 'DDGS_PROXY': 'http://127.0.0.1:9'}
    r = subprocess.run([sys.executable, '-m', 'pytest', '--collect-only', '-q', '-p', 'no:cacheprovider', str(HERE)],
                       capture_output=True, text=True, env=env, cwd=HERE.parent, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert re.search(r'^\d+ tests collected', r.stdout, re.M), r.stdout[-2000:]
    assert not list(empty.iterdir()) and not cache.exists(), 'collecting the tests looked for photos'

SERVERS = re.compile(r'\b(http\.server|socketserver|HTTPServer|BaseHTTPRequestHandler|ThreadingHTTPServer|\.listen\()')

def test_one_loopback_server():
    "A second server in the tests would drift from the first: every test that needs one uses `fetch_server.Server`."
    others = {f.name: m.group(0) for f in sorted(HERE.glob('*.py')) if f.name not in ('fetch_server.py', 'test_suite.py')
              for m in [SERVERS.search(f.read_text())] if m}
    assert not others, f'HTTP servers outside tests/fetch_server.py: {others}'
    assert SERVERS.search((HERE/'fetch_server.py').read_text())
