"""Fetching: every kept, rejected and retried case (issues 2, 12 and 21), against a real HTTP server on 127.0.0.1;
searching against a stand-in with ddgs's public `DDGS.images` signature; data sets, caches and folders that recover."""
import inspect, json, os, signal, subprocess, sys, time, warnings
from functools import partial
from pathlib import Path
from typing import Any
import pytest
from PIL import Image
import ddgs
from ddgs.exceptions import DDGSException, RatelimitException, TimeoutException
import urllib3
import fastbird.fetch
from fastbird.fetch import (search_images, SearchError, fetch_images, fetch_bytes, Rejected, TryLater, read_manifest,
                            summarise, fetch_dataset, need_web, NoInternet, NO_INTERNET, COMPLETE, cache_dir, write_atomic)
from fastbird.data import lesson_data, quarantine_unreadable
from fetch_server import KEPT, BROKEN, CAP, JPEG

TIMEOUT, STALL = 2., 0.5  # per-URL deadline, and the silence that makes a stall, in these tests

@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv('FASTBIRD_CACHE', str(tmp_path/'cache'))

REJECTED = {  # URL (relative to the server, or absolute) -> (status, how the reason starts): 'rejected' is final, 'retry' passing
    '/missing.jpg': ('rejected', 'HTTP 404'), '/gone.jpg': ('rejected', 'HTTP 410'), '/page.jpg': ('rejected', 'not an image (HTML: a web page'),
    '/empty.jpg': ('rejected', 'empty response'), '/truncated.jpg': ('rejected', 'corrupt image'),
    '/drawing.svg': ('rejected', 'not an image (SVG, '), '/noise.jpg': ('rejected', 'not an image'),
    '/huge.jpg': ('rejected', 'too large'), '/huge-nolength.jpg': ('rejected', 'too large'),
    '/bomb.png': ('rejected', 'decompression bomb'), '/bomb100m.png': ('rejected', 'decompression bomb'),
    '/loop': ('rejected', 'HTTP 30'), 'file:///etc/passwd': ('rejected', 'not an http(s) URL'),
    'ftp://127.0.0.1/photo.jpg': ('rejected', 'not an http(s) URL'), 'data:image/png;base64,iVBORw0KGgo=': ('rejected', 'not an http(s) URL'),
    'http://[::1/photo.jpg': ('rejected', 'malformed URL'), 'http:///photo.jpg': ('rejected', 'malformed URL'),
    'just some words': ('rejected', 'not an http(s) URL'),
    '/error.jpg': ('retry', 'HTTP 500'), '/reset.jpg': ('retry', 'connection'),
    '/hang.jpg': ('retry', 'stalled (no bytes'), '/trickle.jpg': ('retry', 'stalled'),  # a byte a 0.5 s: either kind
    '/steady.jpg': ('retry', 'too slow'),
}
TRIES = {'rejected': 1, 'stalled': 2, 'too slow': 1}  # final: one try; a stall: one more; out of time: the next run's

def full(server, u): return server.base+u if u.startswith('/') else u

@pytest.fixture(scope='module')
def mixed(server, tmp_path_factory):
    "Download every case once: (dest, records by URL)."
    dest = tmp_path_factory.mktemp('mixed')/'imgs'
    urls = [full(server, u) for u in [*KEPT, *REJECTED]]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', Image.DecompressionBombWarning)  # PIL's own notice on /bomb100m.png's header
        recs = fetch_images(dest, urls, timeout=TIMEOUT, stall=STALL, max_bytes=CAP, progress=False, pause=0.1)
    return dest, {r['url']: r for r in recs}

def test_every_url_has_a_record(mixed, server):
    dest, recs = mixed
    assert len(recs)==len(KEPT)+len(REJECTED)
    assert len(read_manifest(dest))==len(recs)

@pytest.mark.parametrize('u', [u for u in KEPT if not u.startswith('/dup-')])  # which twin wins is a race
def test_kept(mixed, server, u):
    dest, recs = mixed
    r = recs[server.base+u]
    assert r['status']=='kept', r
    im = Image.open(dest/r['file']); im.load()
    assert im.mode=='RGB' and im.format=='JPEG' and max(im.size)<=400

@pytest.mark.parametrize('u,status,why', [(u, *v) for u, v in REJECTED.items()])
def test_rejected(mixed, server, u, status, why):
    r = mixed[1][full(server, u)]
    assert r['status']==status and r['file'] is None and r['reason'].startswith(why), r
    assert r['tries']==TRIES.get(status, TRIES.get(why.split(' (')[0], 3))  # other passing failures: 2 retries

def test_duplicate_kept_once(mixed, server):
    recs = mixed[1]
    a, b = recs[server.base+'/dup-a.jpg'], recs[server.base+'/dup-b.jpg']
    assert {a['status'], b['status']}=={'kept', 'duplicate'} and a['file']==b['file']
    Image.open(mixed[0]/a['file']).load()

def test_only_kept_files_left(mixed):
    dest, recs = mixed
    kept = {r['file'] for r in recs.values() if r['status']=='kept'}
    assert len(kept)==len(KEPT)-1
    assert {p.name for p in dest.iterdir()}==kept|{'manifest.jsonl'}  # no partial or rejected file

def test_conversions(mixed, server):
    dest, recs = mixed
    img = lambda u: Image.open(dest/recs[server.base+u]['file'])
    assert img('/rotated.jpg').size==(200, 400)                # EXIF orientation applied, then shrunk
    assert img('/rotated.jpg').getpixel((40, 150))[2] > 200 and img('/rotated.jpg').getpixel((40, 250))[0] < 60  # arrowhead up, not down
    assert img('/photo.jpg').size==(400, 300)                  # longer side 400
    assert img('/rgba.png').getpixel((250, 100))[0] > 240 and img('/rgba.png').getpixel((250, 100))[1] > 240  # transparent -> white
    r, g, b = img('/anim.gif').getpixel((10, 10)); assert r > 200 and g < 60 and b < 60   # first frame (red)
    for u in ('/palette.png', '/palette.gif'):  # a palette's transparent colour (black): white, beside opaque red
        assert img(u).getpixel((20, 100))==(255, 255, 255) and img(u).getpixel((280, 100))[1] < 60
    assert 140 < img('/deep.png').getpixel((5, 5))[0] < 170   # 16-bit 40000 scaled to 8-bit (~156), not clipped to 255

def test_names_generated(mixed):
    for r in mixed[1].values():
        if r['file']: assert len(r['file'])==len('0123456789abcdef.jpg') and not r['file'].startswith(('photo', 'rotated'))

def test_rerun_resumes(mixed, server):
    "A rerun tries again exactly the URLs marked 'retry': never what is kept or finally rejected."
    dest, recs = mixed
    hits = dict(server.hits)
    again = fetch_images(dest, list(recs), timeout=1, stall=STALL, max_bytes=CAP, progress=False, retries=0)
    fetched = {p for p in server.hits if server.hits[p]!=hits.get(p)}
    passing = {u for u, (st, _) in REJECTED.items() if st=='retry'}
    assert fetched==passing
    assert {r['url']: r for r in again if r['status']!='retry'}=={u: r for u, r in recs.items() if r['status']!='retry'}
    assert summarise(again)['to retry']==len(passing) and summarise(again)['rejected']==len(REJECTED)-len(passing)

def test_rerun_counts_a_copy_of_an_earlier_photo_as_a_duplicate(server, tmp_path):
    "A later run into the same folder: bytes matching a photo an earlier run kept make a duplicate, not a second keep."
    first, = fetch_images(tmp_path, [server.base+'/dup-a.jpg'], progress=False)
    again = fetch_images(tmp_path, [server.base+'/dup-b.jpg', server.base+'/photo.jpg'], progress=False)
    assert first['status']=='kept' and [r['status'] for r in again]==['duplicate', 'kept']
    assert again[0]['file']==first['file'] and again[0]['reason']=='duplicate of an image already kept'
    assert sorted(p.name for p in tmp_path.glob('*.jpg'))==sorted([first['file'], again[1]['file']])
    assert summarise(read_manifest(tmp_path).values())['kept']==2

def test_search_results_accepted(server, tmp_path):
    res = fetch_images(tmp_path, [dict(url=server.base+'/photo.jpg', title='a bird')], progress=False)
    assert res[0]['status']=='kept'

def test_fetch_bytes_caps(server):
    assert fetch_bytes(server.base+'/photo.jpg')==JPEG
    with pytest.raises(Rejected, match='too large'): fetch_bytes(server.base+'/huge-nolength.jpg', max_bytes=CAP)

def test_a_stall_is_seconds_of_silence_not_the_deadline(server):
    "No bytes, or under 1 KB, for `stall` seconds is a stall, whatever the deadline; the deadline ends a steady trickle."
    with pytest.raises(TryLater) as e: fetch_bytes(server.base+'/hang.jpg', timeout=60, stall=STALL)
    assert (str(e.value), e.value.stalled, e.value.overran)==('stalled (no bytes for 0.5s)', True, False)
    with pytest.raises(TryLater) as e: fetch_bytes(server.base+'/trickle.jpg', timeout=60, stall=1.5)  # a byte a 0.5 s
    assert (str(e.value), e.value.stalled)==('stalled (under 1 KB in 1.5s)', True)
    with pytest.raises(TryLater) as e: fetch_bytes(server.base+'/steady.jpg', timeout=1, stall=STALL)
    assert (str(e.value), e.value.stalled, e.value.overran)==('too slow (over 1s)', False, True)

def test_proxy_from_the_environment(server, monkeypatch):
    "Downloads go through the proxy `http_proxy` names, as urllib's and requests' do, except to hosts `no_proxy` lists."
    for k in ('http_proxy', 'https_proxy', 'all_proxy', 'no_proxy'):
        monkeypatch.delenv(k, raising=False); monkeypatch.delenv(k.upper(), raising=False)
    monkeypatch.setenv('http_proxy', server.base)
    assert fetch_bytes('http://photos.invalid/photo.jpg')==JPEG  # only the proxy can reach that host
    monkeypatch.setenv('http_proxy', 'http://127.0.0.1:9')  # a proxy that isn't there
    with pytest.raises(TryLater, match='connection failed'): fetch_bytes(server.base+'/photo.jpg')
    monkeypatch.setenv('no_proxy', '127.0.0.1')
    assert fetch_bytes(server.base+'/photo.jpg')==JPEG

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

def test_stale_part_files_are_removed(server, tmp_path):
    "A run starts by removing the `.NAME.part` files a killed run left (write_atomic's temporary files), and nothing else."
    dest = tmp_path/'imgs'; dest.mkdir()
    stale = [dest/'.0123456789abcdef.jpg.1a2b3c4d.part', dest/'.manifest.jsonl.deadbeef.part']
    for f in stale: f.write_bytes(JPEG[:1000])
    (dest/'notes.part').write_text('not ours: not hidden'); (dest/'mine.jpg').write_bytes(JPEG)
    recs = fetch_images(dest, [server.base+'/photo.jpg'], progress=False)
    assert recs[0]['status']=='kept' and not [f for f in stale if f.exists()]
    assert sorted(p.name for p in dest.iterdir())==sorted([recs[0]['file'], 'manifest.jsonl', 'notes.part', 'mine.jpg'])
    stale[0].write_bytes(b'cut short')
    fetch_images(dest, [], progress=False)  # nothing to download: still tidied
    assert not stale[0].exists()

@pytest.mark.parametrize('fail', ['write', 'fsync'])
def test_write_atomic_never_leaves_a_partial_file(tmp_path, monkeypatch, fail):
    "A write that fails midway (a full disk, a kill) leaves the old file whole, or no file: never a partial one under the name."
    old, new = tmp_path/'old.json', tmp_path/'new.json'
    write_atomic(old, b'{"version": 1}')
    assert old.read_bytes()==b'{"version": 1}' and not list(tmp_path.glob('.*.part'))
    import builtins, io as _io
    real_open = builtins.open
    class Half(_io.FileIO):
        "A file that writes half of what it is given, then fails as a full disk does."
        def write(self, b): super().write(bytes(b)[:len(b)//2]); raise OSError(28, 'No space left on device')
    def opener(f, mode='r', *a, **k):
        return Half(f, mode.replace('b', '')) if fail=='write' and 'w' in mode else real_open(f, mode, *a, **k)
    def no_fsync(fd): raise OSError(5, 'Input/output error')
    monkeypatch.setattr(builtins, 'open', opener)
    if fail=='fsync': monkeypatch.setattr(fastbird.fetch.os, 'fsync', no_fsync)
    for f in (old, new):
        with pytest.raises(OSError): write_atomic(f, b'{"version": 2, "results": ["a", "b", "c"]}')
    monkeypatch.undo()
    assert old.read_bytes()==b'{"version": 1}' and not new.exists()
    assert not list(tmp_path.glob('.*.part')), 'a failed write cleans up its temporary file'
    write_atomic(new, b'{"version": 2}')
    assert new.read_bytes()==b'{"version": 2}'

# Search: a stand-in for ddgs.DDGS with the same `images` signature, raising ddgs's own exceptions

# The keyword arguments ddgs documents for `DDGS().images(query, ...)` (README of ddgs 9.5 and later)
DOCUMENTED = {'region', 'safesearch', 'timelimit', 'max_results', 'page', 'backend', 'size', 'color', 'type_image',
              'layout', 'license_image'}

def _check_kwargs(kwargs):
    "The arguments we pass must be ones the real `DDGS.images` documents."
    assert set(kwargs) <= DOCUMENTED, set(kwargs)-DOCUMENTED

class Pages:
    "Answers `n_pages` pages of `per` results (with one URL repeated on every page), after `fail` failures."
    def __init__(self, n_pages=3, per=4, fail=(), backends_ok=('duckduckgo', 'auto')):
        self.n_pages, self.per, self.fail, self.ok, self.calls = n_pages, per, list(fail), backends_ok, []
    def __call__(self): return self  # used as the class: `ddgs_cls()`
    def images(self, query: str, **kwargs: Any) -> list[dict[str, Any]]:
        _check_kwargs(kwargs); self.calls.append((query, kwargs))
        if self.fail: raise self.fail.pop(0)
        if kwargs['backend'] not in self.ok: raise DDGSException('ConnectError: no route to host')
        page = kwargs['page']
        if page > self.n_pages: raise DDGSException('No results found.')
        return [dict(image=f'http://img.example/{query}/{page}/{i}.jpg', title=f'{query} {i}', url='http://page.example',
                     source='Example', width=640, height=480, thumbnail='http://t.example/x.jpg') for i in range(self.per)] + \
               [dict(image='http://img.example/same.jpg', title='repeated')]

def test_standin_has_the_public_signature():
    "The stand-in binds to ddgs's public API: `DDGS().images(query, **kwargs)`, nothing private."
    assert inspect.signature(Pages.images)==inspect.signature(ddgs.DDGS.images)
    assert inspect.signature(ddgs.DDGS.__init__).bind(None)  # `DDGS()` with no arguments, as search_images makes it

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
    assert tbl.loc['bird'].to_dict()=={'found': 5, 'kept': 2, 'duplicate': 1, 'rejected': 2, 'to retry': 0,
                                       'rejected: not an image': 1, 'rejected: HTTP 404': 1}
    assert (tbl.loc['forest', 'found'], tbl.loc['forest', 'kept']) == (2, 2)
    assert len(list((tmp_path/'bird').glob('*.jpg')))==2

def test_fetch_dataset_with_ddgs_standin(tmp_path):
    "All searches fail (no network): the search error comes out, nothing is created."
    s = partial(search_images, ddgs_cls=Pages(fail=[DDGSException('ConnectError')]*50), sleep=lambda s: None)
    with pytest.raises(SearchError, match='URL list'): fetch_dataset(tmp_path/'d', ['bird'], search=s)

def test_lesson_data_uses_local_copy(tmp_path, monkeypatch):
    "Photos you brought (one folder of images per label, no fastbird manifest) are used as they are, offline."
    for l in ('bird', 'forest'): (tmp_path/'birds'/l).mkdir(parents=True); (tmp_path/'birds'/l/'a.jpg').write_bytes(JPEG)
    monkeypatch.setenv('FASTBIRD_DATA', str(tmp_path))
    monkeypatch.setattr(fastbird.fetch, 'web_reachable', lambda *a, **k: False)
    assert lesson_data('birds')==tmp_path/'birds'
    with pytest.raises(ValueError, match='birds'): lesson_data('fish')
    (tmp_path/'birds'/'forest'/'a.jpg').unlink()  # a label without photos: not complete, and offline it says what to do
    with pytest.raises(NoInternet): lesson_data('birds')

def test_quarantine_unreadable(tmp_path):
    (tmp_path/'bird').mkdir()
    (tmp_path/'bird'/'good.jpg').write_bytes(JPEG)
    (tmp_path/'bird'/'cut.jpg').write_bytes(BROKEN['/truncated.jpg'][1])
    (tmp_path/'bird'/'page.jpg').write_bytes(BROKEN['/page.jpg'][1])
    (tmp_path/'bird'/'empty.png').write_bytes(b'')
    (tmp_path/'notes.txt').write_text('not an image, left alone')
    bad = dict(quarantine_unreadable(tmp_path))
    assert set(bad)=={'bird/cut.jpg', 'bird/page.jpg', 'bird/empty.png'}
    assert bad['bird/page.jpg'].startswith('not an image')
    assert sorted(p.name for p in (tmp_path/'bird').iterdir())==['good.jpg']
    assert (tmp_path/'.quarantine'/'bird'/'cut.jpg').read_bytes()==BROKEN['/truncated.jpg'][1]  # moved, not deleted
    assert quarantine_unreadable(tmp_path)==[]

def test_slow_redirects_share_one_budget(server):
    "Each hop of a redirect chain gets what is left of the deadline, not a fresh one: 10 hops of 0.4 s run out of 1 s."
    with pytest.raises(TryLater, match=r'^too slow \(over 1s\)$'): fetch_bytes(server.base+'/slowloop', timeout=1.)

# Issue 12: downloads and caches that recover

KINDS = ['503', '429', 'reset', 'stall']

@pytest.mark.parametrize('retries', [2, 0])
def test_flaky_servers_recover(server, tmp_path, retries):
    "40 URLs whose first answer is 503, 429, a reset or a stall: a run and one rerun keep all 40, nothing partial left."
    urls = [f'{server.base}/flaky/r{retries}/{KINDS[i%4]}/{i}.jpg' for i in range(40)]
    first = fetch_images(tmp_path, urls, timeout=3., stall=STALL, progress=False, pause=0.1, retries=retries)
    if retries: assert summarise(first)['kept']==40  # retried within the run already
    else:
        assert summarise(first)['to retry']==40 and summarise(first)['rejected']==0
        assert {r['reason'].split(' (')[0] for r in first}=={'HTTP 503', 'HTTP 429', 'connection failed', 'stalled'}
    again = fetch_images(tmp_path, urls, timeout=3., stall=STALL, progress=False, pause=0.1)
    assert summarise(again)['kept']==40 and len({r['file'] for r in again})==40
    assert sorted(p.name for p in tmp_path.iterdir())==sorted([r['file'] for r in again]+['manifest.jsonl'])
    for r in again: Image.open(tmp_path/r['file']).load()
    assert all(server.hits[u.replace(server.base, '')]==2 for u in urls)  # each URL: one failure, one success, no more

def test_retries_wait_beside_the_other_downloads(server, tmp_path):
    "A URL that failed for a passing reason is tried again while the others go on, not in a round after them all."
    busy, stalled = f'{server.base}/flaky/beside/503/0.jpg', f'{server.base}/flaky/beside/stall/1.jpg'
    others = [f'{server.base}/slow/{i}.jpg' for i in range(200, 220)]
    settled_at_wait = []
    recs = fetch_images(tmp_path, [busy, stalled, *others], stall=STALL, n_workers=1, progress=False,
                        sleep=lambda s: settled_at_wait.append(len(read_manifest(tmp_path))))
    assert [r['status'] for r in recs]==['kept']*22 and [r['tries'] for r in recs[:2]]==[2, 2]
    assert len(settled_at_wait)==1 and settled_at_wait[0] < len(others)  # the busy URL waited while others downloaded
    order = list(read_manifest(tmp_path))
    assert order.index(stalled) < len(others)//2  # the stall's second try went ahead of the URLs not yet tried

def test_retry_after_respected_and_capped(server, tmp_path):
    waits = []
    fetch_images(tmp_path/'a', [f'{server.base}/flaky/ra/429/1.jpg'], progress=False, pause=0.1, sleep=waits.append)
    fetch_images(tmp_path/'b', [f'{server.base}/flaky/rb/429/2.jpg'], progress=False, pause=0.1, max_pause=0.5, sleep=waits.append)
    fetch_images(tmp_path/'c', [f'{server.base}/flaky/rc/503/3.jpg'], progress=False, pause=0.1, sleep=waits.append)
    assert waits==[1., 0.5, 0.1]  # the server's 1 s; capped at max_pause; no Retry-After: the pause

def test_passing_and_final_counts_reported(server, tmp_path):
    recs = fetch_images(tmp_path, [server.base+'/error.jpg', server.base+'/missing.jpg', server.base+'/photo.jpg'],
                           progress=False, retries=0)
    s = summarise(recs)
    assert (s['kept'], s['rejected'], s['to retry'], s['rejected: HTTP 404'], s['to retry: HTTP 500'])==(1, 1, 1, 1, 1)
    assert [r['status'] for r in read_manifest(tmp_path).values()]==['retry', 'rejected', 'kept'] or \
           sorted(r['status'] for r in read_manifest(tmp_path).values())==['kept', 'rejected', 'retry']

@pytest.mark.parametrize('flt', ['default', 'ignore', 'error'])
def test_parallel_bombs_and_good_images(server, tmp_path, flt):
    "Bombs (over PIL's error limit, between its two limits, over ours only) and good images downloaded together: each verdict right, whatever the warning filters."
    bombs = [f'{server.base}/bombs/{wh}/{i}.png' for i in range(8) for wh in ('30000x30000', '10000x10000', '8000x7000')]
    good = [f'{server.base}/slow/{i}.jpg' for i in range(100, 124)]
    urls = [u for pair in zip(bombs, good) for u in pair]
    with warnings.catch_warnings():
        warnings.simplefilter(flt)
        recs = {r['url']: r for r in fetch_images(tmp_path, urls, progress=False, n_workers=8)}
    assert all(recs[u]['status']=='rejected' and recs[u]['reason'].startswith('decompression bomb') for u in bombs)
    assert all(recs[u]['status']=='kept' for u in good)

def test_programming_errors_propagate(server, tmp_path, monkeypatch):
    "Per-URL failures are reasons; a bug or running out of memory is not: it comes out as the exception it is."
    for exc in (TypeError('a bug'), MemoryError(), NameError('x')):
        def broken(*a, **k): raise exc
        monkeypatch.setattr(fastbird.fetch, 'read_image', broken)
        with pytest.raises(type(exc)): fetch_images(tmp_path, [server.base+'/photo.jpg'], progress=False)
        assert not read_manifest(tmp_path)
    monkeypatch.undo()
    def oops(*a, **k): raise NameError('oops')
    monkeypatch.setattr(urllib3.PoolManager, 'request', oops)
    with pytest.raises(NameError): fetch_bytes(server.base+'/photo.jpg')

# Search caches that survive damage

DAMAGE = {'cut short': lambda t: t[:len(t)//2], 'not JSON': lambda t: '\x00\xff garbage', 'missing keys': lambda t: '{"term": "x"}',
          'wrong types': lambda t: '{"complete": true, "results": [1, 2]}', 'a list': lambda t: '[]'}

@pytest.mark.parametrize('damage', DAMAGE)
def test_damaged_cache_searched_again(damage):
    f = Pages()
    res = search_images('bird photo', max_images=5, ddgs_cls=f)
    cf, = (cache_dir()/'search').glob('*.json')
    cf.write_text(DAMAGE[damage](cf.read_text()))
    n = len(f.calls)
    with pytest.warns(UserWarning) as w: assert search_images('bird photo', max_images=5, ddgs_cls=f)==res
    msg = str(w[0].message)
    assert 'damaged' in msg and "'bird photo'" in msg and '\n' not in msg and len(f.calls)>n
    assert json.loads(cf.read_text())['results']==res  # whole again
    assert not list(cf.parent.glob('.*.part'))

@pytest.mark.parametrize('damage', DAMAGE)
def test_damaged_cache_offline_says_what_to_do(damage):
    search_images('bird photo', max_images=5, ddgs_cls=Pages())
    cf, = (cache_dir()/'search').glob('*.json')
    cf.write_text(DAMAGE[damage](cf.read_text()))
    offline = Pages(fail=[DDGSException('ConnectError: no route to host')]*20)
    with pytest.warns(UserWarning, match='damaged'), pytest.raises(SearchError, match='Without internet'):
        search_images('bird photo', ddgs_cls=offline, sleep=lambda s: None)

# No internet: one line saying what to do

def test_no_internet_message_is_one_line_naming_both_remedies(monkeypatch):
    assert len(NO_INTERNET.splitlines())==1
    assert "Kaggle" in NO_INTERNET and "'Internet' on" in NO_INTERNET and 'FASTBIRD_DATA' in NO_INTERNET
    monkeypatch.setattr(fastbird.fetch, 'web_reachable', lambda *a, **k: False)
    with pytest.raises(NoInternet) as e: need_web()
    assert str(e.value)==NO_INTERNET and isinstance(e.value, SearchError)
    assert e.value._render_traceback_()==[f'NoInternet: {NO_INTERNET}']  # all IPython shows
    monkeypatch.setattr(fastbird.fetch, 'web_reachable', lambda *a, **k: True)
    assert need_web() is None

IPYTHON = """from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.run_cell('import fastbird.fetch; fastbird.fetch.web_reachable = lambda *a, **k: False')
r = shell.run_cell('from fastbird.fetch import need_web\\nneed_web()')
raise SystemExit(type(r.error_in_exec).__name__ != 'NoInternet')
"""

def test_need_web_offline_in_ipython_shows_one_line():
    "`need_web()` offline, run by IPython's shell (the one a Jupyter kernel runs): the one-line message, no traceback."
    r = subprocess.run([sys.executable, '-c', IPYTHON], capture_output=True, text=True, timeout=120)
    assert r.returncode==0 and r.stdout.splitlines()==[f'NoInternet: {NO_INTERNET}'], r.stdout+r.stderr

# Data sets that are complete, or completed by the next call

def _sources(server):
    return {'bird photo': [server.base+'/photo.jpg', server.base+'/plain.png'], 'bird sun photo': [server.base+'/gray.png'],
            'forest photo': [server.base+'/cmyk.jpg', server.base+'/photo.webp'], 'forest sun photo': [server.base+'/rgba.png']}

def test_half_fetched_dataset_is_reported_then_completed(server, tmp_path):
    calls = []
    def search(term, max_images):
        calls.append(term)
        if term=='forest sun photo' and calls.count(term)==1: raise SearchError('Image search for it failed: rate limited')
        return _sources(server).get(term, [])
    with pytest.raises(SearchError, match='1 of 6 searches failed') as e:
        fetch_dataset(tmp_path, ['bird', 'forest'], search=search, target=3, progress=False)
    assert e.value.table.loc['bird', 'kept']==3 and e.value.table.loc['forest', 'kept']==2
    assert not (tmp_path/COMPLETE).exists()
    hits = dict(server.hits)
    tbl = fetch_dataset(tmp_path, ['bird', 'forest'], search=search, target=3, progress=False)
    assert tbl['kept'].tolist()==[3, 3] and json.loads((tmp_path/COMPLETE).read_text())['labels']==['bird', 'forest']
    assert {p for p in server.hits if server.hits[p]!=hits.get(p)}=={'/rgba.png'}  # only what was missing

def test_short_of_target_is_not_complete(server, tmp_path):
    search = lambda term, max_images: _sources(server).get(term, [])
    tbl = fetch_dataset(tmp_path, ['bird', 'forest'], search=search, target=4, progress=False)
    assert tbl['kept'].tolist()==[3, 3] and not (tmp_path/COMPLETE).exists()

def test_all_searches_failing_reports_no_internet_help(tmp_path):
    s = partial(search_images, ddgs_cls=Pages(fail=[DDGSException('ConnectError')]*50), sleep=lambda s: None)
    with pytest.raises(SearchError, match='URL list'): fetch_dataset(tmp_path/'d', ['bird'], search=s)
    assert not (tmp_path/'d'/COMPLETE).exists()

def test_lesson_data_completes_a_partial_folder(server, tmp_path, monkeypatch):
    monkeypatch.setenv('FASTBIRD_DATA', str(tmp_path))
    calls = []
    def search(term, max_images):
        calls.append(term)
        if term=='forest photo' and calls.count(term)==1: raise SearchError('rate limited')
        return _sources(server).get(term, [])
    monkeypatch.setattr(fastbird.fetch, 'web_reachable', lambda *a, **k: False)
    with pytest.raises(NoInternet): lesson_data('birds', search=search)
    monkeypatch.setattr(fastbird.fetch, 'web_reachable', lambda *a, **k: True)
    with pytest.raises(SearchError, match='1 of 6'): lesson_data('birds', search=search, target=3, progress=False)
    assert lesson_data('birds', search=search, target=3, progress=False)==tmp_path/'birds'
    monkeypatch.setattr(fastbird.fetch, 'web_reachable', lambda *a, **k: False)  # complete now: offline is fine
    assert lesson_data('birds')==tmp_path/'birds' and len(calls)==12  # two fetches; none once complete

def test_one_label_at_its_target_is_not_complete(server, tmp_path, monkeypatch):
    "Every label must reach the target: where only one did, the data set is not marked complete; lesson_data says so."
    lopsided = {'bird photo': [server.base+'/photo.jpg', server.base+'/plain.png'],
                'forest photo': [server.base+'/cmyk.jpg']}
    search = lambda term, max_images: lopsided.get(term, [])
    tbl = fetch_dataset(tmp_path/'d', ['bird', 'forest'], search=search, target=2, progress=False)
    assert tbl['kept'].tolist()==[2, 1] and not (tmp_path/'d'/COMPLETE).exists()
    monkeypatch.setenv('FASTBIRD_DATA', str(tmp_path))
    monkeypatch.setattr(fastbird.fetch, 'web_reachable', lambda *a, **k: True)
    with pytest.warns(UserWarning, match='2 bird, 1 forest photos could be fetched'):
        assert lesson_data('birds', search=search, target=2, progress=False)==tmp_path/'birds'
    monkeypatch.setattr(fastbird.fetch, 'web_reachable', lambda *a, **k: False)
    with pytest.raises(NoInternet): lesson_data('birds')  # not complete: it needs the web to complete it

def test_pass_throughs_say_what_they_accept():
    "`fetch_dataset` and `lesson_data` pass keyword arguments on; their signatures and docs list them (`@delegates`)."
    from fastcore.docments import docments
    def keywords(f): return {k for k, p in inspect.signature(f).parameters.items() if p.default is not p.empty}
    dataset, data = inspect.signature(fetch_dataset).parameters, inspect.signature(lesson_data).parameters
    assert keywords(fetch_images) <= set(dataset) and 'kwargs' not in dataset
    assert keywords(fetch_dataset) <= set(data) and 'kwargs' not in data
    assert docments(lesson_data)['stall']==docments(fetch_images)['stall'] and docments(lesson_data)['stall']

def test_lesson_data_short_warns_and_stays_incomplete(server, tmp_path, monkeypatch):
    monkeypatch.setenv('FASTBIRD_DATA', str(tmp_path))
    monkeypatch.setattr(fastbird.fetch, 'web_reachable', lambda *a, **k: True)
    search = lambda term, max_images: _sources(server).get(term, [])
    with pytest.warns(UserWarning, match='3 bird, 3 forest photos could be fetched'):
        assert lesson_data('birds', search=search, progress=False)==tmp_path/'birds'
    monkeypatch.setattr(fastbird.fetch, 'web_reachable', lambda *a, **k: False)
    with pytest.raises(NoInternet): lesson_data('birds')  # still partial: it needs the web to complete

# Folders you bring: quarantined files out of the photos' reach

def test_quarantine_is_hidden_from_training(tmp_path):
    from fastai.vision.all import get_image_files
    from fastbird.data import check_image_folder
    for l in ('bird', 'forest'):
        (tmp_path/l).mkdir()
        for i, k in enumerate(['/photo.jpg', '/plain.png', '/cmyk.jpg']): (tmp_path/l/f'{i}{Path(k).suffix}').write_bytes(KEPT[k][1])
    (tmp_path/'bird'/'cut.jpg').write_bytes(BROKEN['/truncated.jpg'][1])
    (tmp_path/'forest'/'bomb.png').write_bytes(BROKEN['/bomb100m.png'][1])
    with pytest.raises(Exception, match='not readable'): check_image_folder(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', Image.DecompressionBombWarning)
        assert {f for f, _ in quarantine_unreadable(tmp_path)}=={'bird/cut.jpg', 'forest/bomb.png'}
    assert (tmp_path/'.quarantine'/'forest'/'bomb.png').exists()
    assert len(get_image_files(tmp_path))==6 and not [f for f in get_image_files(tmp_path) if '.quarantine' in f.parts]
    assert {l: len(fs) for l, fs in check_image_folder(tmp_path).items()}=={'bird': 3, 'forest': 3}
