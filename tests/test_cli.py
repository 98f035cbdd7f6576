"The `fastbird` command: help, version, exit codes, and every subcommand end to end."
import inspect, json, os, shutil, socket, subprocess, sys, time
from pathlib import Path
import pytest
from PIL import Image
from fastbird import __version__
from fastbird.fetch import search_images, read_manifest
from command import NO_NET, fb
from fetch_server import KEPT, CAP, Server
from test_fetch import REJECTED, Pages, full, _check_kwargs
import ddgs
from ddgs.exceptions import DDGSException
from fastbird import cli
from fastbird.data import split_files
from fastbird.model import load_classifier, predict

def test_help_is_light():
    "`fastbird --help` imports none of the heavy libraries, so it answers at once."
    r = fb('--help')
    assert r.returncode==0 and all(c in r.stdout for c in ('search', 'download', 'fetch', 'train', 'predict', 'demo'))
    chk = subprocess.run([sys.executable, '-c', "import sys; sys.argv=['fastbird','--help']\nimport fastbird.cli\n"
                          "try: fastbird.cli.main()\nexcept SystemExit: pass\n"
                          "print(sorted(m for m in ('torch','fastai','pandas','PIL','ddgs') if m in sys.modules))"],
                         capture_output=True, text=True)
    assert chk.stdout.strip().endswith('[]'), chk.stdout

def test_console_script():
    exe = os.path.join(os.path.dirname(sys.executable), 'fastbird')
    r = subprocess.run([exe, '--version'], capture_output=True, text=True)
    assert r.returncode==0 and r.stdout.strip()==f'fastbird {__version__}'

@pytest.mark.parametrize('cmd', ['search', 'download', 'fetch', 'train', 'predict', 'demo'])
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
    assert r.returncode==0, r.stderr
    assert time.monotonic()-t < 25  # a deadline, with a wide margin: the hanging and trickling servers take 30 s
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

# No route to DuckDuckGo, on any machine: the real ddgs is sent through a proxy address where nothing listens

def test_search_offline_is_actionable(tmp_path):
    "The real ddgs can't connect, and the command says what to do instead."
    r = fb('search', 'bird photo', env={'FASTBIRD_CACHE': str(tmp_path), **NO_NET}, timeout=60)
    assert r.returncode==1 and 'Traceback' not in r.stderr and 'fastbird download --urls' in r.stderr

def test_fetch_offline(tmp_path):
    r = fb('fetch', str(tmp_path/'d'), 'bird', 'forest', env={'FASTBIRD_CACHE': str(tmp_path), **NO_NET}, timeout=120)
    assert r.returncode==1 and 'cached query' in r.stderr and 'Traceback' not in r.stderr

# Training, predicting and the demo, on small copies of the shared photos

from photos import ARCH, small_copy

@pytest.fixture(scope='module')
def model(tmp_path_factory, birds):
    "A model trained by `fastbird train` on 8 birds and 8 forests."
    d = small_copy(birds, tmp_path_factory.mktemp('data'))
    r = fb('train', str(d), '--out', str(d.parent/'model'), '--arch', ARCH, '--size', '96')
    assert r.returncode==0, r.stderr
    return d.parent/'model', d, r

def test_train_prints_validation_error_and_saves_no_pickle(model):
    m, d, r = model
    assert 'validation error' in r.stdout and 'Traceback' not in r.stderr
    assert sorted(p.name for p in m.iterdir())==['familiar.safetensors', 'model.json', 'model.onnx', 'model.safetensors']

def test_predict_reproduces_library_predictions(model, tmp_path, birds):
    "`fastbird predict --json` gives what `predict(load_classifier(...))` gives in a notebook; a bad photo gets its own line."
    m, d, _ = model
    imgs = [str(sorted((birds/l).iterdir())[-1]) for l in ('bird', 'forest')]
    (tmp_path/'page.jpg').write_text('<!DOCTYPE html><html>403</html>')
    r = fb('predict', str(m), imgs[0], str(tmp_path/'page.jpg'), imgs[1], '--json')
    assert r.returncode==0, r.stderr
    lines = [json.loads(l) for l in r.stdout.splitlines()]
    assert [o['image'] for o in lines]==[imgs[0], str(tmp_path/'page.jpg'), imgs[1]]
    assert 'web page' in lines[1]['error'] and '1 of 3 photos could not be read' in r.stderr
    clf = load_classifier(m)
    for o in (lines[0], lines[2]):
        p = predict(clf, o['image'])
        assert o['label']==p.label and set(o['probs'])=={'bird', 'forest'}
        for k in p.probs: assert abs(o['probs'][k]-p.probs[k]) < 1e-6

def test_predict_readable_lines(model, birds):
    m, d, _ = model
    img = str(sorted((birds/'bird').iterdir())[-1])
    r = fb('predict', str(m), img)
    label, rest = r.stdout.strip().split(': ', 1)[1].split(' ', 1)
    assert r.returncode==0 and label in ('bird', 'forest') and 'bird 0.' in rest and 'forest 0.' in rest

HEAVY = ('torch', 'torchvision', 'timm', 'fastai', 'sklearn', 'ipywidgets')

def predict_in_fresh_process(*args):
    "Run `fastbird predict *args --json` in a fresh Python that imports fastbird.model and fastbird.cli first: (answers, heavy modules loaded, stderr)."
    code = ("import json, sys\nimport fastbird.model, fastbird.cli\n"
            f"rc = fastbird.cli.main(['predict', *{list(map(str, args))!r}, '--json'])\n"
            f"print(json.dumps({{'rc': rc, 'loaded': sorted(m for m in {HEAVY!r} if m in sys.modules)}}))")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert r.returncode==0, r.stderr
    *answers, last = [json.loads(l) for l in r.stdout.splitlines()]
    assert last['rc']==0, r.stderr
    return answers, last['loaded'], r.stderr

def test_predict_needs_no_torch_and_falls_back_to_it(model, tmp_path, birds):
    "A saved model answers through ONNX Runtime, importing none of torch, timm, fastai, scikit-learn or ipywidgets; without its graph, through torch: the same answers, and a note that says why it is slower."
    m, d, _ = model
    imgs = [sorted((birds/l).iterdir())[-2] for l in ('bird', 'forest')]
    onnx, loaded, err = predict_in_fresh_process(m, *imgs)
    assert loaded==[], f'predicting through ONNX Runtime imported {loaded}'
    assert 'torch' not in err and [o['image'] for o in onnx]==list(map(str, imgs))
    no_graph = Path(shutil.copytree(m, tmp_path/'no-graph')); (no_graph/'model.onnx').unlink()
    through_torch, loaded, err = predict_in_fresh_process(no_graph, *imgs)
    assert 'torch' in loaded, 'without model.onnx it predicts through torch'
    assert 'has no model.onnx graph, so it predicts through torch, which takes seconds to start' in err, err
    assert err.count('no model.onnx') == 1, 'one note'
    for a, b in zip(onnx, through_torch):
        assert a['label']==b['label'] and a['probs'].keys()==b['probs'].keys()
        assert all(abs(a['probs'][k]-b['probs'][k]) < 1e-4 for k in a['probs']), (a, b)
    assert sorted(p.name for p in no_graph.iterdir())==['familiar.safetensors', 'model.json', 'model.safetensors'], 'predicting writes nothing'

def test_predict_nothing_readable_or_no_model(model, tmp_path):
    m, d, _ = model
    r = fb('predict', str(m), str(tmp_path/'missing.jpg'))
    assert r.returncode==1 and 'missing.jpg as an image: no such file' in r.stdout
    r = fb('predict', str(tmp_path), str(tmp_path/'missing.jpg'))
    assert r.returncode==1 and 'not a fastbird model folder' in r.stderr and 'Traceback' not in r.stderr

@pytest.mark.parametrize('case', ['one label', 'empty', 'missing'])
def test_train_bad_data_is_one_clear_line(tmp_path, case, birds):
    d = tmp_path/'data'
    if case=='one label': small_copy(birds, d, n=3, labels=('bird',))
    if case=='empty': d.mkdir()
    r = fb('train', str(d), '--out', str(tmp_path/'m'), '--arch', ARCH)
    assert r.returncode==1 and r.stderr.startswith('fastbird train: ') and 'Traceback' not in r.stderr
    assert {'one label': 'Only one label', 'empty': 'is empty', 'missing': 'No folder'}[case] in r.stderr
    assert not (tmp_path/'m').exists()

def test_demo_with_data(tmp_path, birds):
    d = small_copy(birds, tmp_path/'data', n=6)
    r = fb('demo', '--data', str(d), '--dir', str(tmp_path/'demo'), '--arch', ARCH, '--show', '1')
    assert r.returncode==0, r.stderr
    answers = [l for l in r.stdout.splitlines() if 'This is a: ' in l]
    held_out_labels = {f.parent.name for f in split_files(d)[1]}  # one held-out photo shown per label (--show 1)
    assert len(answers)==len(held_out_labels)>0 and all("Probability it's a bird: " in l for l in answers)
    assert (tmp_path/'demo'/'model'/'model.safetensors').exists() and 'fastbird predict' in r.stdout

def test_demo_offline_stops_at_once_naming_data(tmp_path, monkeypatch, capsys):
    "No network: every connection fails as it does without a route; the demo tries once, searches nothing and says to use --data."
    tried = []
    def no_network(*a, **k): tried.append(a[0] if a else k.get('address')); raise OSError(-3, 'Temporary failure in name resolution')
    monkeypatch.setattr(socket, 'create_connection', no_network)
    def no_search(*a, **k): raise AssertionError('the demo searched offline')
    monkeypatch.setattr(ddgs, 'DDGS', no_search)
    assert cli.main(['demo', '--dir', str(tmp_path/'demo')])==1
    assert tried==[('duckduckgo.com', 443)], 'one connection tried: no retries, no waiting'
    err = capsys.readouterr().err
    assert '--data DIR' in err and "can't be reached" in err
    assert not (tmp_path/'demo').exists()

REAL_DDGS = ddgs.DDGS

class PhotoSearch:
    "A stand-in for `ddgs.DDGS` (same `images` signature) whose results are the photos of `root`, served from loopback under `base`/files/."
    def __init__(self, base, root, per=4): self.base, self.root, self.per, self.queries = base, root, per, []
    def __call__(self): return self
    def images(self, query, **kwargs):
        inspect.signature(REAL_DDGS.images).bind(None, query, **kwargs)  # the public method's signature
        _check_kwargs(kwargs)  # and only the arguments ddgs documents for it
        self.queries.append(query)
        if kwargs['page']>1: raise DDGSException('No results found.')
        label, kind = query.split(' ', 1)
        start = ['photo', 'sun photo', 'shade photo'].index(kind)*self.per
        files = sorted((self.root/label).iterdir())[start:start+self.per]
        return [dict(image=f'{self.base}/files/{label}/{f.name}', title=f.name, url=self.base, source='loopback',
                     width=400, height=300, thumbnail='') for f in files]

def test_demo_fetches_trains_and_predicts(tmp_path, monkeypatch, capsys, birds):
    "The whole lesson without --data: search (stand-in), download (real HTTP on loopback), train, predict."
    with Server(root=birds) as srv:
        search = PhotoSearch(srv.base, birds)
        monkeypatch.setattr(ddgs, 'DDGS', search)
        monkeypatch.setenv('FASTBIRD_CACHE', str(tmp_path/'cache'))
        monkeypatch.setattr('fastbird.fetch.web_reachable', lambda *a, **k: True)  # the only step that needs the real web
        assert cli.main(['demo', '--dir', str(tmp_path/'demo'), '--arch', ARCH, '--show', '1'])==0
        assert sum(n for p, n in srv.hits.items() if p.startswith('/files/'))==24
    out = capsys.readouterr().out
    assert sorted(set(search.queries))==sorted(f'{l} {k}' for l in ('bird', 'forest') for k in ('photo', 'sun photo', 'shade photo'))
    for l in ('bird', 'forest'): assert len(list((tmp_path/'demo'/'data'/l).glob('*.jpg')))==12
    assert out.count('This is a: ')==2 and 'validation error' in out

def test_lesson_commands_without_the_lesson_extra_say_what_to_install(tmp_path):
    "With only the core install (no fastai), `fastbird train` says in one line what to install, instead of a traceback."
    code = ("import sys; sys.modules['fastai'] = None; from fastbird.cli import main; "
            f"sys.exit(main(['train', {str(tmp_path)!r}, '--out', {str(tmp_path/'m')!r}]))")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip().splitlines() == ["fastbird: this command needs the lesson's libraries (fastai is not installed): pip install 'fastbird[lesson]'"], r.stderr
    assert not (tmp_path/'m').exists()
