"Fetching: every kept and rejected case of issue 2, against a real HTTP server on 127.0.0.1."
import inspect, json, os, signal, subprocess, sys, time
from functools import partial
from pathlib import Path
import pytest
from PIL import Image
import ddgs
from ddgs.exceptions import DDGSException, RatelimitException, TimeoutException
from fastbird.fetch import (search_images, SearchError, download_images, fetch_bytes, Rejected, read_manifest,
                            summarise, fetch_dataset, check_folder, lesson_data)
from fetch_server import Server, KEPT, BROKEN, CAP, JPEG

TIMEOUT = 2.  # per-URL budget in these tests

@pytest.fixture(scope='module')
def server():
    with Server() as s: yield s

@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv('FASTBIRD_CACHE', str(tmp_path/'cache'))

REJECTED = {  # URL (relative to the server, or absolute) -> how the reason starts
    '/missing.jpg': 'HTTP 404', '/error.jpg': 'HTTP 500', '/page.jpg': 'not an image (HTML)', '/empty.jpg': 'empty response',
    '/truncated.jpg': 'corrupt image', '/drawing.svg': 'not an image (SVG)', '/noise.jpg': 'not an image',
    '/huge.jpg': 'too large', '/huge-nolength.jpg': 'too large', '/bomb.png': 'decompression bomb',
    '/hang.jpg': 'too slow', '/trickle.jpg': 'too slow', '/reset.jpg': 'connection', '/loop': 'HTTP 30',
    'file:///etc/passwd': 'not an http(s) URL', 'ftp://127.0.0.1/photo.jpg': 'not an http(s) URL',
    'data:image/png;base64,iVBORw0KGgo=': 'not an http(s) URL', 'http://[::1/photo.jpg': 'malformed URL',
    'http:///photo.jpg': 'malformed URL', 'just some words': 'not an http(s) URL',
}

def full(server, u): return server.base+u if u.startswith('/') else u

@pytest.fixture(scope='module')
def mixed(server, tmp_path_factory):
    "Download every case once; (dest, records by URL, seconds taken)."
    dest = tmp_path_factory.mktemp('mixed')/'imgs'
    urls = [full(server, u) for u in [*KEPT, *REJECTED]]
    t = time.monotonic()
    recs = download_images(dest, urls, timeout=TIMEOUT, max_bytes=CAP, progress=False)
    return dest, {r['url']: r for r in recs}, time.monotonic()-t

def test_every_url_has_a_record(mixed, server):
    dest, recs, _ = mixed
    assert len(recs)==len(KEPT)+len(REJECTED)
    assert len(read_manifest(dest))==len(recs)

@pytest.mark.parametrize('u', [u for u in KEPT if not u.startswith('/dup-')])  # which twin wins is a race
def test_kept(mixed, server, u):
    dest, recs, _ = mixed
    r = recs[server.base+u]
    assert r['status']=='kept', r
    im = Image.open(dest/r['file']); im.load()
    assert im.mode=='RGB' and im.format=='JPEG' and max(im.size)<=400

@pytest.mark.parametrize('u,why', REJECTED.items())
def test_rejected(mixed, server, u, why):
    r = mixed[1][full(server, u)]
    assert r['status']=='rejected' and r['file'] is None and r['reason'].startswith(why), r

def test_duplicate_kept_once(mixed, server):
    recs = mixed[1]
    a, b = recs[server.base+'/dup-a.jpg'], recs[server.base+'/dup-b.jpg']
    assert {a['status'], b['status']}=={'kept', 'duplicate'} and a['file']==b['file']
    Image.open(mixed[0]/a['file']).load()

def test_only_kept_files_left(mixed):
    dest, recs, _ = mixed
    kept = {r['file'] for r in recs.values() if r['status']=='kept'}
    assert len(kept)==len(KEPT)-1
    assert {p.name for p in dest.iterdir()}==kept|{'manifest.jsonl'}  # no partial or rejected file

def test_within_budget(mixed):
    assert mixed[2] < 3*TIMEOUT  # the hanging and trickling servers are cut off at their deadline

def test_conversions(mixed, server):
    dest, recs = mixed[:2]
    img = lambda u: Image.open(dest/recs[server.base+u]['file'])
    assert img('/rotated.jpg').size==(200, 400)                # EXIF orientation applied, then shrunk
    assert img('/rotated.jpg').getpixel((40, 150))[2] > 200 and img('/rotated.jpg').getpixel((40, 250))[0] < 60  # arrowhead up, not down
    assert img('/photo.jpg').size==(400, 300)                  # longer side 400
    assert img('/rgba.png').getpixel((250, 100))[0] > 240 and img('/rgba.png').getpixel((250, 100))[1] > 240  # transparent -> white
    r, g, b = img('/anim.gif').getpixel((10, 10)); assert r > 200 and g < 60 and b < 60   # first frame (red)
    assert 140 < img('/deep.png').getpixel((5, 5))[0] < 170   # 16-bit 40000 scaled to 8-bit (~156), not clipped to 255

def test_names_generated(mixed):
    for r in mixed[1].values():
        if r['file']: assert len(r['file'])==len('0123456789abcdef.jpg') and not r['file'].startswith(('photo', 'rotated'))

def test_rerun_resumes(mixed, server):
    dest, recs, _ = mixed
    hits = dict(server.hits)
    again = download_images(dest, list(recs), timeout=TIMEOUT, max_bytes=CAP, progress=False)
    assert server.hits==hits  # nothing fetched again
    assert {r['url']: r for r in again}==recs

def test_search_results_accepted(server, tmp_path):
    res = download_images(tmp_path, [dict(url=server.base+'/photo.jpg', title='a bird')], progress=False)
    assert res[0]['status']=='kept'

def test_fetch_bytes_caps_and_deadline(server):
    assert fetch_bytes(server.base+'/photo.jpg')==JPEG
    t = time.monotonic()
    with pytest.raises(Rejected, match='too slow'): fetch_bytes(server.base+'/trickle.jpg', timeout=1.)
    assert time.monotonic()-t < 2
    with pytest.raises(Rejected, match='too large'): fetch_bytes(server.base+'/huge-nolength.jpg', max_bytes=CAP)

def test_kill_9_leaves_no_partial_image(tmp_path):
    "A real download process killed with SIGKILL mid-run: every image left is whole, and a rerun completes."
    here = Path(__file__).parent
    srv = subprocess.Popen([sys.executable, str(here/'fetch_server.py'), '0.15'], stdout=subprocess.PIPE, text=True)
    try:
        base = srv.stdout.readline().strip()
        urls = [f'{base}/slow/{i}.jpg' for i in range(60)]
        (tmp_path/'urls.txt').write_text('\n'.join(urls))
        dest = tmp_path/'imgs'
        cmd = [sys.executable, '-m', 'fastbird', 'download', '--urls', str(tmp_path/'urls.txt'), '--dest', str(dest), '--workers', '4']
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic()+20
        while len(read_manifest(dest)) < 10 and time.monotonic() < deadline: time.sleep(0.05)
        os.kill(p.pid, signal.SIGKILL); p.wait()
        done = read_manifest(dest)
        assert 10 <= len(done) < 60
        for f in dest.glob('*.jpg'): Image.open(f).load()  # whole images only
        assert not [f for f in dest.iterdir() if f.suffix not in ('.jpg', '.part', '.jsonl')]
        assert subprocess.run(cmd, capture_output=True).returncode==0
        recs = read_manifest(dest)
        assert len(recs)==60 and all(r['status']=='kept' for r in recs.values())
        assert sorted(f.name for f in dest.glob('*.jpg'))==sorted(r['file'] for r in recs.values())
        assert not list(dest.glob('.*.part'))
    finally: srv.kill(); srv.wait()

# Search: a stand-in for ddgs.DDGS with the same `images` signature, raising ddgs's own exceptions

def _check_kwargs(kwargs):
    "The arguments we pass must be ones the real `DDGS.images` accepts."
    inspect.signature(ddgs.DDGS._search_sync).bind(None, 'images', 'q', **kwargs)

class Pages:
    "Answers `n_pages` pages of `per` results (with one URL repeated on every page), after `fail` failures."
    def __init__(self, n_pages=3, per=4, fail=(), backends_ok=('duckduckgo', 'auto')):
        self.n_pages, self.per, self.fail, self.ok, self.calls = n_pages, per, list(fail), backends_ok, []
    def __call__(self): return self  # used as the class: `ddgs_cls()`
    def images(self, query, **kwargs):
        _check_kwargs(kwargs); self.calls.append((query, kwargs))
        if self.fail: raise self.fail.pop(0)
        if kwargs['backend'] not in self.ok: raise DDGSException('ConnectError: no route to host')
        page = kwargs['page']
        if page > self.n_pages: raise DDGSException('No results found.')
        return [dict(image=f'http://img.example/{query}/{page}/{i}.jpg', title=f'{query} {i}', url='http://page.example',
                     source='Example', width=640, height=480, thumbnail='http://t.example/x.jpg') for i in range(self.per)] + \
               [dict(image='http://img.example/same.jpg', title='repeated')]

def test_search_pages_and_dedupes():
    f = Pages()
    res = search_images('bird photo', max_images=100, ddgs_cls=f)
    assert len(res)==3*4+1 and len({r['url'] for r in res})==len(res)
    assert set(res[0])=={'url', 'title', 'source', 'width', 'height', 'thumbnail'}
    assert [c[1]['page'] for c in f.calls]==[1, 2, 3, 4]

def test_search_stops_at_max():
    res = search_images('bird photo', max_images=6, ddgs_cls=Pages())
    assert len(res)==6

@pytest.mark.parametrize('exc', [RatelimitException('202 Ratelimit'), TimeoutException('timed out')])
def test_search_retries_with_backoff(exc):
    waits, f = [], Pages(fail=[exc, exc])
    res = search_images('bird photo', max_images=5, ddgs_cls=f, sleep=waits.append, pause=1.)
    assert len(res)==5 and waits==[1., 2.]

@pytest.mark.parametrize('exc', [RatelimitException('202 Ratelimit'), TimeoutException('timed out')])
def test_search_tries_other_backend(exc):
    f = Pages(fail=[exc]*4)  # first backend: 1 try + 3 retries, all fail
    res = search_images('bird photo', max_images=5, ddgs_cls=f, sleep=lambda s: None)
    assert len(res)==5 and [c[1]['backend'] for c in f.calls][-1]=='auto'

@pytest.mark.parametrize('exc,why', [(RatelimitException('202 Ratelimit'), 'Ratelimit'), (TimeoutException('timed out'), 'timed out'),
                                     (DDGSException('No results found.'), 'no results'),
                                     (DDGSException('ConnectError: [Errno -3] Temporary failure in name resolution'), 'name resolution')])
def test_search_failure_says_what_to_do(exc, why):
    f = Pages(fail=[exc]*20)
    with pytest.raises(SearchError) as e: search_images('bird photo', ddgs_cls=f, sleep=lambda s: None)
    msg = str(e.value)
    assert why in msg and 'cached query' in msg and 'fastbird download --urls' in msg and 'FASTBIRD_DATA' in msg

def test_search_cached(tmp_path):
    f = Pages()
    res = search_images('forest photo', max_images=5, ddgs_cls=f)
    n = len(f.calls)
    assert search_images('forest photo', max_images=5, ddgs_cls=f)==res and len(f.calls)==n
    assert list((tmp_path/'cache'/'search').glob('*.json'))
    search_images('forest photo', max_images=5, ddgs_cls=f, cache=False); assert len(f.calls) > n

# The lesson's recipe, and folders users bring

def test_fetch_dataset(server, tmp_path):
    urls = {'bird photo': ['/photo.jpg', '/page.jpg', '/dup-a.jpg'], 'bird sun photo': ['/dup-b.jpg', '/missing.jpg'],
            'forest photo': ['/plain.png'], 'forest shade photo': ['/photo.jpg']}
    search = lambda term, max_images: [server.base+u for u in urls.get(term, [])]
    tbl = fetch_dataset(tmp_path, ['bird', 'forest'], search=search, timeout=TIMEOUT, progress=False)
    assert tbl.loc['bird'].to_dict()=={'found': 5, 'kept': 2, 'duplicate': 1, 'rejected: not an image': 1, 'rejected: HTTP 404': 1}
    assert (tbl.loc['forest', 'found'], tbl.loc['forest', 'kept']) == (2, 2)
    assert len(list((tmp_path/'bird').glob('*.jpg')))==2

def test_fetch_dataset_with_ddgs_standin(tmp_path):
    "All searches fail (no network): the search error comes out, nothing is created."
    s = partial(search_images, ddgs_cls=Pages(fail=[DDGSException('ConnectError')]*50), sleep=lambda s: None)
    with pytest.raises(SearchError, match='URL list'): fetch_dataset(tmp_path/'d', ['bird'], search=s)

def test_lesson_data_uses_local_copy(tmp_path, monkeypatch):
    (tmp_path/'birds'/'bird').mkdir(parents=True)
    monkeypatch.setenv('FASTBIRD_DATA', str(tmp_path))
    assert lesson_data('birds')==tmp_path/'birds'
    with pytest.raises(ValueError, match='birds'): lesson_data('fish')

def test_check_folder(tmp_path):
    (tmp_path/'bird').mkdir()
    (tmp_path/'bird'/'good.jpg').write_bytes(JPEG)
    (tmp_path/'bird'/'cut.jpg').write_bytes(BROKEN['/truncated.jpg'][1])
    (tmp_path/'bird'/'page.jpg').write_bytes(BROKEN['/page.jpg'][1])
    (tmp_path/'bird'/'empty.png').write_bytes(b'')
    (tmp_path/'notes.txt').write_text('not an image, left alone')
    bad = dict(check_folder(tmp_path))
    assert set(bad)=={'bird/cut.jpg', 'bird/page.jpg', 'bird/empty.png'}
    assert bad['bird/page.jpg'].startswith('not an image')
    assert sorted(p.name for p in (tmp_path/'bird').iterdir())==['good.jpg']
    assert (tmp_path/'_quarantine'/'bird'/'cut.jpg').read_bytes()==BROKEN['/truncated.jpg'][1]  # moved, not deleted
    assert check_folder(tmp_path)==[]

def test_slow_redirects_share_one_budget(server):
    "Each hop of a redirect chain gets what is left of the budget, not a fresh timeout."
    t = time.monotonic()
    with pytest.raises(Rejected, match='too slow'): fetch_bytes(server.base+'/slowloop', timeout=1.)
    assert time.monotonic()-t < 1.6
