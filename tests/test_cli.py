"The `fastbird` command: help, version, exit codes, and every subcommand end to end."
import argparse, inspect, json, os, shutil, socket, subprocess, sys, time
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

@pytest.mark.parametrize('cmd', ['search', 'download', 'fetch', 'train', 'predict', 'demo', 'app', 'space'])
def test_subcommand_help(cmd, capsys):
    with pytest.raises(SystemExit) as e: cli.main([cmd, '--help'])
    out = capsys.readouterr().out
    assert e.value.code==0 and out.startswith(f'usage: fastbird {cmd}') and '%%' not in out, out

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

# The help: each option's is its parameter's docment; the --arch choices are the backbone table's

def subparsers(p) -> dict:
    "The sub-parsers of `p`, by command."
    return next(a for a in p._actions if isinstance(a, argparse._SubParsersAction)).choices

def test_every_command_is_listed_and_described():
    p = cli.parser()
    assert list(subparsers(p)) == list(cli.COMMANDS) == ['search', 'download', 'fetch', 'train', 'predict', 'demo', 'app', 'space']
    for name, sp in subparsers(p).items():
        help = sp.format_help()
        assert '%%' not in help and '%(' not in help, f'{name}: {help}'
        assert sp.description and sp.description.strip()[-1] in '.)', f'{name}: described by its function\'s docstring'

WORK = {'search': 'fastbird.fetch.search_images', 'download': 'fastbird.fetch.fetch_images',
        'fetch': 'fastbird.fetch.fetch_dataset', 'train': 'fastbird.learner.train', 'predict': 'fastbird.model.load_classifier',
        'demo': 'fastbird.cli.demo', 'app': 'fastbird.app.serve', 'space': 'fastbird.app.write_space'}

@pytest.mark.parametrize('command', list(WORK))
def test_help_and_defaults_come_from_the_functions(command):
    "An argument that sets a parameter of the function behind the command has its docment as help, its default as default."
    import importlib, inspect
    from fastcore.docments import docments
    mod, name = WORK[command].rsplit('.', 1)
    f = getattr(importlib.import_module(mod), name)
    docs, params = docments(f), inspect.signature(f).parameters
    sp = subparsers(cli.parser([command]))[command]
    download = getattr(importlib.import_module('fastbird.fetch'), 'fetch_images')
    checked = 0
    for a in sp._actions:
        g = f if a.dest in params else download if a.dest in cli._DOWNLOAD else None
        if g is None: continue
        doc = docments(g)[a.dest].replace('%', '%%')
        assert a.help.startswith(doc), (a.dest, a.help, doc)
        default = inspect.signature(g).parameters[a.dest].default
        if a.option_strings and default is not inspect.Parameter.empty: assert a.default == default, a.dest
        checked += 1
    assert checked, f'{command}: none of its arguments come from {name}'

def test_arch_choices_are_the_backbone_table(capsys):
    from fastbird.backbones import BACKBONES
    for command in ('train', 'demo'):
        arch = next(a for a in subparsers(cli.parser([command]))[command]._actions if a.dest == 'arch')
        assert list(arch.choices) == ['auto', *BACKBONES], command
    with pytest.raises(SystemExit) as e: cli.main(['train', 'photos', '--out', 'm', '--arch', 'resnet50'])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "invalid choice: 'resnet50'" in err and all(n in err for n in BACKBONES), err

def test_a_percent_in_a_docment_prints_once():
    "argparse formats help with %: a docment's 20% comes out as 20%, not as 20%% (nor as an error)."
    def f(share:float=0.2 # the lesson's 20% held out
         ): pass
    p = argparse.ArgumentParser(prog='x')
    cli._arg(p, f, 'share', '--share')
    help = p.format_help()
    assert "the lesson's 20% held out (default: 0.2)" in help and '%%' not in help, help

# Training, predicting and the demo, on small copies of the shared photos

from photos import ARCH, small_copy

def test_train_prints_validation_error_and_saves_no_pickle(tmp_path, birds):
    d = small_copy(birds, tmp_path/'data', n=4)
    r = fb('train', str(d), '--out', str(tmp_path/'model'), '--arch', ARCH, '--size', '64', '--no-refit')
    assert r.returncode==0, r.stderr
    assert 'validation error' in r.stdout and 'then fit again' not in r.stdout and 'Traceback' not in r.stderr
    assert sorted(p.name for p in (tmp_path/'model').iterdir())==['familiar.safetensors', 'model.json', 'model.onnx',
                                                                  'model.safetensors']
    meta = json.loads((tmp_path/'model'/'model.json').read_text())
    assert (meta['size'], meta['info']['refit']) == (64, False)

def test_predict_reproduces_library_predictions(trained, tmp_path, birds):
    "`fastbird predict --json` gives what `predict(load_classifier(...))` gives in a notebook; a bad photo gets its own line."
    m = trained[0].model_dir
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

def test_predict_readable_lines(trained, birds):
    img = str(sorted((birds/'bird').iterdir())[-1])
    r = fb('predict', str(trained[0].model_dir), img)
    label, rest = r.stdout.strip().split(': ', 1)[1].split(' ', 1)
    assert r.returncode==0 and label in ('bird', 'forest') and 'bird 0.' in rest and 'forest 0.' in rest

def core_distributions() -> set:
    "The distributions a core install (`pip install fastbird`, no extras) brings: fastbird's own requirements and theirs."
    from importlib.metadata import requires
    from packaging.requirements import Requirement
    todo, seen = ['fastbird'], set()
    while todo:
        name = todo.pop()
        if name in seen: continue
        seen.add(name)
        for r in map(Requirement, requires(name) or []):
            if r.marker is None or r.marker.evaluate({'extra': ''}): todo.append(r.name.lower().replace('_', '-'))
    return seen

# Run in a process where any module of a distribution outside the core install fails to import, as it would in a venv
# with `pip install fastbird` alone; optional imports (PIL's of defusedxml, say) fall back as they would there.
CORE_ONLY = """import json, sys, importlib.abc
from importlib.metadata import packages_distributions
core, dists = set(json.loads(sys.argv[1])), packages_distributions()
class CoreOnly(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        ds = {d.lower().replace('_', '-') for d in dists.get(name.split('.')[0], [])}
        if ds and not ds & core: raise ModuleNotFoundError(f'No module named {name!r}', name=name)
sys.meta_path.insert(0, CoreOnly())
import fastbird.cli
rc = fastbird.cli.main(['predict', *sys.argv[2:], '--json'])
print(json.dumps({'rc': rc, 'loaded': sorted(m for m in ('numpy', 'onnxruntime', 'torch') if m in sys.modules)}))
"""

def test_predict_needs_only_the_core_install(trained, birds):
    """A saved model answers through ONNX Runtime with only the core install's dependencies importable (no torch, timm,
    fastai, nor what they bring, such as fastcore): what `pip install fastbird` gives a Space."""
    imgs = [str(sorted((birds/l).iterdir())[-2]) for l in ('bird', 'forest')]
    r = subprocess.run([sys.executable, '-c', CORE_ONLY, json.dumps(sorted(core_distributions())),
                        str(trained[0].model_dir), *imgs], capture_output=True, text=True, timeout=300)
    assert r.returncode==0, r.stderr
    *answers, last = [json.loads(l) for l in r.stdout.splitlines()]
    assert last == {'rc': 0, 'loaded': ['numpy', 'onnxruntime']}, last
    assert [o['image'] for o in answers]==imgs

def test_predict_nothing_readable_or_no_model(trained, tmp_path):
    m = trained[0].model_dir
    r = fb('predict', str(m), str(tmp_path/'missing.jpg'))
    assert r.returncode==1 and 'missing.jpg as an image: no such file' in r.stdout
    r = fb('predict', str(tmp_path), str(tmp_path/'missing.jpg'))
    assert r.returncode==1 and 'not a fastbird model folder' in r.stderr and 'Traceback' not in r.stderr
    no_graph = Path(shutil.copytree(m, tmp_path/'no-graph')); (no_graph/'model.onnx').unlink()
    r = fb('predict', str(no_graph), str(tmp_path/'missing.jpg'))
    assert r.returncode==1 and r.stderr.splitlines()==[f'fastbird predict: {no_graph} is not a fastbird model folder: '
                                                       'model.onnx missing. Copy the whole folder, or save the model again.']

@pytest.mark.parametrize('case', ['one label', 'empty', 'missing'])
def test_train_bad_data_is_one_clear_line(tmp_path, case, birds, capsys):
    d = tmp_path/'data'
    if case=='one label': small_copy(birds, d, n=3, labels=('bird',))
    if case=='empty': d.mkdir()
    assert cli.main(['train', str(d), '--out', str(tmp_path/'m'), '--arch', ARCH]) == 1
    err = capsys.readouterr().err
    assert err.startswith('fastbird train: ') and len(err.splitlines()) == 1, err
    assert {'one label': 'Only one label', 'empty': 'is empty', 'missing': 'No folder'}[case] in err
    assert not (tmp_path/'m').exists()

def test_demo_with_data(tmp_path, birds, capsys):
    d = small_copy(birds, tmp_path/'data', n=6)
    assert cli.main(['demo', '--data', str(d), '--dir', str(tmp_path/'demo'), '--arch', ARCH, '--show', '1']) == 0
    out = capsys.readouterr().out
    answers = [l for l in out.splitlines() if 'This is a: ' in l]
    held_out_labels = {f.parent.name for f in split_files(d)[1]}  # one held-out photo shown per label (--show 1)
    assert len(answers)==len(held_out_labels)>0 and all("Probability it's a bird: " in l for l in answers)
    assert (tmp_path/'demo'/'model'/'model.safetensors').exists() and 'fastbird predict' in out

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
