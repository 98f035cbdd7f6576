"""`fastbird app` and `fastbird space` with real parts: a model trained once on shared photos; the app served by the
command in a subprocess on a free loopback port, asked through `gradio_client` and through its page in headless
Chromium (Selenium, with the Debian chromium and chromedriver); and a written Space folder's `python app.py`, run from a
temporary folder outside the checkout."""
import os, shutil, signal, socket, subprocess, sys, time, urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest, yaml
from chromium import chromium
from fastbird import __version__

# One worker runs this file, in its order (pytest-xdist's --dist loadgroup): one app served, one Chromium, for every test
pytestmark = pytest.mark.xdist_group('app')
os.environ['GRADIO_ANALYTICS_ENABLED'] = 'False'  # gradio_client's telemetry thread: off, whatever its argument says
ROOT = Path(__file__).resolve().parents[1]
ENV = {'GRADIO_ANALYTICS_ENABLED': 'False', 'HF_HUB_DISABLE_TELEMETRY': '1'}
START = 120  # seconds a server may take to answer (importing Gradio, on 2 busy cores)

def fastbird(*args, pre='') -> list:
    "The command line `fastbird *args`, in a fresh Python that runs `pre` first (to hide Gradio, say)."
    return [sys.executable, '-c', f"import sys\n{pre}\nfrom fastbird.cli import main\nsys.exit(main())", *map(str, args)]

def free_port() -> int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def answers(url) -> bool:
    "Does `url` answer 200 (straight, whatever proxy the environment names)?"
    try:
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=2) as r: return r.status==200
    except OSError: return False

@contextmanager
def serving(cmd, url, log:Path, cwd, env=None):
    "Run the server `cmd` in `cwd` until `url` answers; yield (process, seconds from start to first answer); always stop it."
    start = time.monotonic()
    with open(log, 'w') as out:
        p = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **ENV, **(env or {})}, stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        while not answers(url):
            assert p.poll() is None, f'the server exited with {p.returncode}:\n{log.read_text()}'
            assert time.monotonic()-start < START, f'no answer from {url} after {START}s:\n{log.read_text()}'
            time.sleep(0.1)
        yield p, time.monotonic()-start
    finally:
        if p.poll() is None: p.kill()
        p.wait(10)

@pytest.fixture(scope='module')
def model_dir(trained, tmp_path_factory):
    "A copy of the test run's model (a linear probe on 8 photos a label), with the first photo of each label in its examples/."
    res, photos = trained
    d = Path(shutil.copytree(res.model_dir, tmp_path_factory.mktemp('app')/'model'))
    (d/'examples').mkdir()
    for label in ('bird', 'forest'): shutil.copy(sorted((photos/label).iterdir())[0], d/'examples')
    return d

@pytest.fixture(scope='module')
def bird(model_dir, trained):
    "A shared bird photo the model was fit on, and what `predict` says of it."
    from fastbird.model import load_classifier, predict
    f = sorted((trained[1]/'bird').iterdir())[1]
    return f, predict(load_classifier(model_dir), f)

@pytest.fixture(scope='module')
def app(model_dir, tmp_path_factory):
    "`fastbird app MODEL_DIR --port P`, run from a temporary folder: (url, process, start-up seconds, its output)."
    tmp = tmp_path_factory.mktemp('served')
    port = free_port()
    url = f'http://127.0.0.1:{port}/'
    with serving(fastbird('app', model_dir, '--port', port), url, tmp/'log', cwd=tmp) as (p, secs):
        yield url, p, secs, tmp/'log'

def client(url):
    from gradio_client import Client
    return Client(url, verbose=False, analytics_enabled=False)

def ask(c, f) -> dict:
    from gradio_client import handle_file
    return c.predict(handle_file(str(f)), api_name='/predict')

def check_answer(got:dict, pred):
    "`got`, from the app's API, is `pred`, from `predict`: the label, and every label's probability by name."
    assert got['label']==pred.label, got
    confs = {c['label']: c['confidence'] for c in got['confidences']}
    assert confs.keys()==pred.probs.keys(), confs
    for k, v in pred.probs.items(): assert abs(confs[k]-v) < 1e-6, (k, confs[k], v)

def junk(folder:Path) -> tuple:
    "A text file, and a web page saved under an image name."
    (folder/'notes.txt').write_text('not a photo\n'); (folder/'notabird.jpg').write_text('<html>403 Forbidden</html>')
    return folder/'notes.txt', folder/'notabird.jpg'

def test_no_gradio_one_line_hint(model_dir):
    "A model and no Gradio: one line saying what to install (a missing model folder is said first, without Gradio)."
    r = subprocess.run(fastbird('app', model_dir, pre="sys.modules['gradio'] = None"), capture_output=True, text=True, timeout=60)
    assert r.returncode==1 and r.stdout=='', r
    assert r.stderr.splitlines()==["fastbird app: The app needs Gradio, which is not installed here: pip install 'fastbird[app]'"], r.stderr

def said(log:Path, text:str, timeout=10) -> str:
    "The server's output once it holds `text` (it prints just after it starts answering), or as it is after `timeout` seconds."
    end = time.monotonic()+timeout
    while text not in log.read_text() and time.monotonic() < end: time.sleep(0.1)
    return log.read_text()

def test_app_says_where_it_serves(app):
    url, p, secs, log = app
    assert p.poll() is None
    out = said(log, 'Ctrl-C stops it')
    assert f'fastbird app: {url} asks ' in out and '(bird, forest); Ctrl-C stops it' in out, out
    print(f'start-up: {secs:.1f}s from process start to first answer')

def test_client_gets_the_label_and_every_probability(app, bird):
    photo, pred = bird
    assert pred.label=='bird'
    check_answer(ask(client(app[0]), photo), pred)

def test_non_image_gets_a_message_and_the_app_keeps_serving(app, bird, tmp_path):
    from gradio_client.exceptions import AppError
    c = client(app[0])
    for f, why in zip(junk(tmp_path), ['not an image (unknown data)', 'not an image (HTML: a web page saved under an image name)']):
        with pytest.raises(AppError, match=f"Can't read {f.name} as an image: {why}".replace('(', r'\(').replace(')', r'\)')): ask(c, f)
    check_answer(ask(c, bird[0]), bird[1])
    assert app[1].poll() is None

def test_port_in_use_is_one_line(app, model_dir, tmp_path):
    port = app[0].rsplit(':', 1)[1].strip('/')
    r = subprocess.run(fastbird('app', model_dir, '--port', port), capture_output=True, text=True, timeout=START, cwd=tmp_path, env={**os.environ, **ENV})
    assert r.returncode==1 and len(r.stderr.splitlines())==1 and f"can't serve on port {port}" in r.stderr, r

# The page, in headless Chromium

@pytest.fixture(scope='module')
def browser():
    d = chromium(1000, 800)
    yield d
    d.quit()

def upload(d, url, f, wait_for:str) -> str:
    "Open the page, upload `f` through its file input, press Submit; the text of the first element matching CSS `wait_for`, once it has one."
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    d.get(url)
    WebDriverWait(d, 30).until(lambda d: d.find_element(By.CSS_SELECTOR, 'input[type=file]')).send_keys(str(f))
    WebDriverWait(d, 30).until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid=image] img'))  # the upload is shown
    d.find_element(By.XPATH, "//button[normalize-space()='Submit']").click()
    return WebDriverWait(d, 30).until(lambda d: ''.join(e.text for e in d.find_elements(By.CSS_SELECTOR, wait_for)[:1]).strip())

def test_the_page_shows_the_label_and_probabilities(app, browser, bird):
    from selenium.webdriver.common.by import By
    photo, pred = bird
    assert upload(browser, app[0], photo, '[data-testid=label-output-value]')==pred.label
    bars = {l: browser.find_element(By.CSS_SELECTOR, f'[data-testid={l}-confidence-set]').text.split() for l in pred.probs}
    assert bars=={l: [l, f'{round(p*100)}%'] for l, p in pred.probs.items()}, bars
    shown = [i for i in browser.find_elements(By.CSS_SELECTOR, 'img') if '/gradio_api/file=' in (i.get_attribute('src') or '')]
    assert len(shown)==1+2 and all(i.get_property('naturalWidth') > 0 for i in shown), 'the upload and both examples are shown'

def test_the_page_says_what_a_non_image_is(app, browser, bird, tmp_path):
    _, page = junk(tmp_path)
    toast = upload(browser, app[0], page, '[data-testid=toast-body]')
    assert "Can't read notabird.jpg as an image: not an image (HTML" in toast, toast
    assert upload(browser, app[0], bird[0], '[data-testid=label-output-value]')==bird[1].label  # still serving

def test_ctrl_c_stops_it(app):
    "The last test of the served app (the file's order, kept by its xdist group): Ctrl-C stops it, saying so."
    url, p, _, log = app
    said(log, 'Ctrl-C stops it')  # past start-up: the interrupt finds it serving
    p.send_signal(signal.SIGINT)
    assert p.wait(30)==0, log.read_text()
    assert log.read_text().rstrip().endswith('fastbird app: stopped')
    assert not answers(url)

# The Space folder

@pytest.fixture(scope='module')
def space(model_dir, tmp_path_factory):
    "`fastbird space MODEL_DIR OUT_DIR` of a model folder that also holds a pickle: OUT_DIR, outside the checkout."
    tmp = tmp_path_factory.mktemp('space')
    src = Path(shutil.copytree(model_dir, tmp/'model'))
    (src/'export.pkl').write_bytes(b'\x80\x04K\x01.')  # a fastai export beside it: it must not go along
    r = subprocess.run(fastbird('space', src, tmp/'out'), capture_output=True, text=True, timeout=120)
    assert r.returncode==0 and r.stdout.startswith(f"fastbird space: wrote {tmp/'out'}"), r
    return tmp/'out'

def test_space_files(space, model_dir):
    files = sorted(str(f.relative_to(space)) for f in space.rglob('*') if f.is_file())
    model_files = sorted(f'model/{f.name}' for f in model_dir.iterdir() if f.is_file())
    examples = sorted(f'model/examples/{f.name}' for f in (model_dir/'examples').iterdir())
    assert files==sorted(['.gitattributes', 'README.md', 'app.py', 'requirements.txt', *model_files, *examples]), files
    assert 'model/model.onnx' in files and not [f for f in files if f.endswith(('.pkl', '.pth', '.pt'))]
    front = yaml.safe_load((space/'README.md').read_text().split('---\n')[1])
    assert (front['sdk'], front['app_file'], front['title']) == ('gradio', 'app.py', 'Bird or forest?'), front
    reqs = (space/'requirements.txt').read_text().splitlines()
    assert reqs[0]==f'fastbird[app]=={__version__}' and [r.split('==')[0] for r in reqs[1:]]==['gradio', 'onnxruntime'], reqs
    assert all('==' in r for r in reqs) and not [r for r in reqs if 'torch' in r], reqs

def test_space_app_serves_from_outside_the_checkout(space, bird, tmp_path):
    assert not space.is_relative_to(ROOT)
    port = free_port()
    with serving([sys.executable, 'app.py'], f'http://127.0.0.1:{port}/', tmp_path/'log', cwd=space, env={'GRADIO_SERVER_PORT': str(port)}):
        c = client(f'http://127.0.0.1:{port}/')
        check_answer(ask(c, bird[0]), bird[1])
        with pytest.raises(Exception, match="Can't read notes.txt as an image"): ask(c, junk(tmp_path)[0])
        check_answer(ask(c, bird[0]), bird[1])

def test_space_refuses_other_folders_and_rewrites_itself(model_dir, tmp_path):
    from fastbird.app import write_space
    from fastbird.model import load_classifier, predictions
    (tmp_path/'mine').mkdir(); (tmp_path/'mine'/'thesis.tex').write_text('...')
    r = subprocess.run(fastbird('space', model_dir, tmp_path/'mine'), capture_output=True, text=True, timeout=120)
    assert r.returncode==1 and len(r.stderr.splitlines())==1 and 'holds other files (thesis.tex)' in r.stderr, r
    assert [f.name for f in (tmp_path/'mine').iterdir()]==['thesis.tex']
    out = write_space(model_dir, tmp_path/'space')
    photos = sorted((model_dir/'examples').iterdir())
    for a, b in zip(predictions(load_classifier(out/'model'), photos), predictions(load_classifier(model_dir), photos)):
        assert a.label==b.label and all(abs(a.probs[k]-b.probs[k]) < 1e-6 for k in a.probs)
    before = {f.name: f.read_bytes() for f in (out/'model').iterdir() if f.is_file()}
    write_space(out/'model', out, title='Again')  # the Space written again from its own model folder
    assert {f.name: f.read_bytes() for f in (out/'model').iterdir() if f.is_file()}==before
    assert sorted(f.name for f in (out/'model'/'examples').iterdir())==[f.name for f in photos]
    assert "title='Again'" in (out/'app.py').read_text() and sorted(f.name for f in out.iterdir())==sorted(
        ['.gitattributes', 'README.md', 'app.py', 'model', 'requirements.txt'])
