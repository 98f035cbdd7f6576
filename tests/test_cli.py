"The `fastbird` command: help, version, exit codes, and the fetching subcommands end to end."
import json, os, subprocess, sys, time
import pytest
from PIL import Image
from fastbird import __version__
from fastbird.fetch import search_images, read_manifest
from fetch_server import Server, KEPT, CAP
from test_fetch import REJECTED, Pages, full

def fb(*args, env=None, **kw):
    return subprocess.run([sys.executable, '-m', 'fastbird', *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, **kw)

@pytest.fixture(scope='module')
def server():
    with Server() as s: yield s

def test_help_is_fast_and_light():
    t = time.monotonic(); r = fb('--help'); dt = time.monotonic()-t
    assert r.returncode==0 and 'search' in r.stdout and 'download' in r.stdout and 'fetch' in r.stdout
    assert dt < 1., f'fastbird --help took {dt:.2f}s'
    chk = subprocess.run([sys.executable, '-c', "import sys; sys.argv=['fastbird','--help']\nimport fastbird.cli\n"
                          "try: fastbird.cli.main()\nexcept SystemExit: pass\n"
                          "print(sorted(m for m in ('torch','fastai','pandas','PIL','ddgs') if m in sys.modules))"],
                         capture_output=True, text=True)
    assert chk.stdout.strip().endswith('[]'), chk.stdout

def test_console_script():
    exe = os.path.join(os.path.dirname(sys.executable), 'fastbird')
    r = subprocess.run([exe, '--version'], capture_output=True, text=True)
    assert r.returncode==0 and r.stdout.strip()==f'fastbird {__version__}'

@pytest.mark.parametrize('cmd', ['search', 'download', 'fetch'])
def test_subcommand_help(cmd):
    r = fb(cmd, '--help')
    assert r.returncode==0 and r.stdout.startswith(f'usage: fastbird {cmd}')

def test_no_command_prints_help():
    r = fb(); assert r.returncode==2 and 'usage: fastbird' in r.stdout

def test_download_mixed(server, tmp_path):
    "The issue's 'done when': a URL list of every case finishes in budget, keeps exactly the valid distinct images."
    urls = [full(server, u) for u in [*KEPT, *REJECTED]]
    (tmp_path/'urls.txt').write_text('# a comment\n' + '\n'.join(urls) + '\n\n')
    t = time.monotonic()
    r = fb('download', '--urls', str(tmp_path/'urls.txt'), '--dest', str(tmp_path/'imgs'), '--timeout', '2', '--max-bytes', str(CAP))
    assert time.monotonic()-t < 10 and r.returncode==0, r.stderr
    assert f'kept: {len(KEPT)-1}' in r.stdout and 'duplicate: 1' in r.stdout
    recs = read_manifest(tmp_path/'imgs')
    assert len(recs)==len(urls) and all(r['reason'] for r in recs.values() if r['status']!='kept')
    files = sorted(p.name for p in (tmp_path/'imgs').iterdir())
    assert files==sorted([r['file'] for r in recs.values() if r['status']=='kept'] + ['manifest.jsonl'])
    for f in (tmp_path/'imgs').glob('*.jpg'): assert max(Image.open(f).size) <= 400

def test_download_nothing_usable(server, tmp_path):
    (tmp_path/'urls.txt').write_text(f'{server.base}/missing.jpg\nfile:///etc/passwd\n')
    r = fb('download', '--urls', str(tmp_path/'urls.txt'), '--dest', str(tmp_path/'imgs'))
    assert r.returncode==1 and 'rejected: HTTP 404: 1' in r.stdout

def test_download_missing_url_file(tmp_path):
    r = fb('download', '--urls', str(tmp_path/'nope.txt'), '--dest', str(tmp_path/'imgs'))
    assert r.returncode==2 and 'no such file' in r.stderr and 'Traceback' not in r.stderr

def test_search_from_cache(tmp_path, monkeypatch):
    "A query searched once (here with a ddgs stand-in) is answered from the cache, without the network."
    env = {'FASTBIRD_CACHE': str(tmp_path)}
    monkeypatch.setenv('FASTBIRD_CACHE', str(tmp_path))
    res = search_images('bird photo', max_images=5, ddgs_cls=Pages())
    r = fb('search', 'bird photo', '--max', '5', env=env)
    assert r.returncode==0 and r.stdout.splitlines()==[x['url'] for x in res]
    r = fb('search', 'bird photo', '--max', '2', '--json', env=env)
    assert [json.loads(l)['title'] for l in r.stdout.splitlines()]==[x['title'] for x in res[:2]]

def test_search_offline_is_actionable(tmp_path):
    "This machine has no route to DuckDuckGo: the real ddgs fails, and the command says what to do instead."
    r = fb('search', 'bird photo', env={'FASTBIRD_CACHE': str(tmp_path)}, timeout=60)
    assert r.returncode==1 and 'Traceback' not in r.stderr and 'fastbird download --urls' in r.stderr

def test_fetch_offline(tmp_path):
    r = fb('fetch', str(tmp_path/'d'), 'bird', 'forest', env={'FASTBIRD_CACHE': str(tmp_path)}, timeout=120)
    assert r.returncode==1 and 'cached query' in r.stderr and 'Traceback' not in r.stderr
