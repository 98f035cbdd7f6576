"`fastbird search`, `download` and `fetch` when things go wrong and then right: damaged caches, passing failures, reruns."
import pytest
from fastbird.fetch import search_images, read_manifest, cache_dir
from command import NO_NET, fb
from test_fetch import Pages

@pytest.mark.parametrize('damage', ['{"term": "bird photo", "compl', '{"term": "bird photo"}', '\x00\xff'])
def test_search_damaged_cache_offline(tmp_path, monkeypatch, damage):
    "A damaged cache file: one note line and the offline advice, exit code 1, no traceback."
    monkeypatch.setenv('FASTBIRD_CACHE', str(tmp_path))
    search_images('bird photo', max_images=5, ddgs_cls=Pages())
    cf, = (cache_dir()/'search').glob('*.json')
    cf.write_text(damage)
    r = fb('search', 'bird photo', '--max', '5', env={'FASTBIRD_CACHE': str(tmp_path), **NO_NET}, timeout=60)
    assert r.returncode==1 and 'Traceback' not in r.stderr
    notes = [l for l in r.stderr.splitlines() if l.startswith('fastbird: note:')]
    assert len(notes)==1 and notes[0].startswith("fastbird: note: The cached search for 'bird photo' is damaged (")
    assert 'fastbird download --urls' in r.stderr

def test_download_reports_passing_failures_and_rerun_keeps_them(server, tmp_path):
    urls = [f'{server.base}/flaky/cli/{k}/{i}.jpg' for i, k in enumerate(['503', '429', 'reset', '503'])] + [server.base+'/missing.jpg']
    (tmp_path/'urls.txt').write_text('\n'.join(urls))
    args = ('download', '--urls', str(tmp_path/'urls.txt'), '--dest', str(tmp_path/'imgs'), '--timeout', '3')
    r = fb(*args, '--retries', '0')
    assert r.returncode==1 and 'kept: 0' in r.stdout and 'rejected: 1' in r.stdout and 'to retry: 4' in r.stdout
    assert "run again to retry the 4 marked 'retry'" in r.stdout
    r = fb(*args)
    assert r.returncode==0 and 'kept: 4' in r.stdout and 'to retry: 0' in r.stdout and 'rejected: HTTP 404: 1' in r.stdout
    assert sorted(x['status'] for x in read_manifest(tmp_path/'imgs').values())==['kept']*4+['rejected']

def test_fetch_offline_no_traceback(tmp_path):
    r = fb('fetch', str(tmp_path/'d'), 'bird', env={'FASTBIRD_CACHE': str(tmp_path), **NO_NET}, timeout=120)
    assert r.returncode==1 and 'searches failed' in r.stderr and 'Traceback' not in r.stderr
    assert not (tmp_path/'d'/'.fastbird-complete.json').exists()
