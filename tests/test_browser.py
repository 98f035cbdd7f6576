"""The docs site's browser demo (issue 20; nbs/further/browser, built by `make web`), in Debian's headless Chromium
against the loopback server of fetch_server.py: the page answers a photo as `fastbird predict` does, says when a photo
looks like none of the labels or isn't a photo at all, and trains a model whose download `fastbird predict` loads and
answers with the same probabilities. The page's parts are checked against their Python counterparts too: PIL's
resampling, numpy's float16, `calibrate_familiarity`, and the lesson's `train_loop`."""
import base64, json, shutil, subprocess, sys, time, zipfile
from pathlib import Path

import numpy as np, pytest
from PIL import Image
from fastbird.images import RESAMPLE, image_array, image_problem, read_image
from fastbird.web import ORT_FILES, SITE, backbone_outputs, head_answers
from chromium import chromium
from fetch_server import Server

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT/SITE
FASTBIRD = Path(sys.executable).parent/'fastbird'
BUILT = [f'ort/{f}' for f in ORT_FILES] + ['backbones/efficientnet_lite0.onnx', 'backbones/efficientnet_lite0.json']
TOL = 1e-3  # the page and `fastbird predict` agree to this, on every probability

pytestmark = pytest.mark.xdist_group('browser')  # one Chromium for this file, under pytest-xdist's --dist loadgroup

def jpgs(folder, start=0, n=None) -> list:
    fs = sorted(f for f in Path(folder).iterdir() if f.suffix.lower() in ('.jpg', '.jpeg'))
    return fs[start:start+n if n else None]

@pytest.fixture(scope='module')
def site():
    missing = [p for p in BUILT if not (WEB/p).is_file()]
    if missing: pytest.fail(f"The demo's folder {WEB} lacks {', '.join(missing)}: run `make web` first.")
    with Server(root=WEB) as s: yield s

@pytest.fixture(scope='module')
def downloads(tmp_path_factory): return tmp_path_factory.mktemp('downloads')

@pytest.fixture(scope='module')
def browser(downloads):
    d = chromium(downloads=downloads, args=('--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'))
    d.set_script_timeout(120)
    yield d
    d.quit()

def wait(d, cond, timeout=120, what='the page'):
    from selenium.webdriver.support.ui import WebDriverWait
    try: return WebDriverWait(d, timeout, poll_frequency=0.1).until(cond)
    except Exception: raise AssertionError(f"{what} did not happen in {timeout} s; the page says: "
                                           f"{d.find_element('css selector', 'body').text[-1500:]}") from None

@pytest.fixture
def page(browser, site):
    "The demo's page, loaded (once, and again after a test loaded another) with both demos ready."
    url = f'{site.base}/files/index.html'
    if browser.current_url != url:
        browser.get(url)
        wait(browser, lambda d: all(e.get_attribute('data-ready') for e in d.find_elements('css selector', '[data-fastbird]')),
             what='loading the network')
    for e in browser.find_elements('css selector', '[data-fastbird]'): assert e.get_attribute('data-ready') == 'true', e.text
    return browser

def cards(d, scope) -> list:
    "The answers shown in `scope`, newest first: dicts of what each says."
    res = []
    for e in d.find_elements('css selector', f'{scope} .fb-answer'):
        a = {k: e.get_attribute(f'data-{k}') for k in ('file', 'label', 'known', 'probs', 'similarity')}
        a['probs'] = json.loads(a['probs']) if a['probs'] else None
        res.append({**a, 'text': e.text, 'error': 'fb-error' in e.get_attribute('class')})
    return res

def give(d, scope, files, pick=0) -> list:
    "Choose `files` in the `pick`th file input of `scope`; the answers they get, in the order given."
    before = len(cards(d, scope))
    d.find_elements('css selector', f'{scope} input[type=file]')[pick].send_keys('\n'.join(str(f) for f in files))
    wait(d, lambda d: len(cards(d, scope)) >= before + len(files), what=f'answering {len(files)} photo(s)')
    return cards(d, scope)[:len(files)][::-1]

def download(d, button, downloads, tmp_path) -> Path:
    "Click `button`, wait for the zip it saves, unzip it into `tmp_path`: the model folder inside."
    before = set(downloads.iterdir())
    d.find_element('css selector', button).click()
    def saved(_):
        new = [f for f in set(downloads.iterdir()) - before if f.suffix == '.zip']
        return new[0] if new else False
    z = wait(d, saved, what='the download')
    with zipfile.ZipFile(z) as zf: zf.extractall(tmp_path/'unzipped')
    (folder,) = (tmp_path/'unzipped').iterdir()
    return folder

def fastbird_predict(folder, photos) -> list:
    r = subprocess.run([str(FASTBIRD), 'predict', str(folder), *map(str, photos), '--json'], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return [json.loads(l) for l in r.stdout.splitlines()]

def same_answers(page_said, python_said):
    "The page's answers are `fastbird predict`'s: the same label and familiarity, every probability within TOL."
    assert len(page_said) == len(python_said)
    worst = 0.
    for a, p in zip(page_said, python_said):
        assert a['file'] == Path(p['image']).name
        assert (a['label'], a['known']) == (p['label'], str(p['known']).lower()), (a, p)
        assert a['probs'].keys() == p['probs'].keys()
        worst = max(worst, *(abs(a['probs'][l] - p['probs'][l]) for l in p['probs']))
    assert worst < TOL, f'probabilities differ by up to {worst}'
    return worst

@pytest.fixture(scope='module')
def site_answers():
    "What the site's models say of photos, computed in numpy from the backbone's graph: to pick photos for the tests."
    info = json.loads((WEB/'backbones'/'efficientnet_lite0.json').read_text())
    def said(model, photos):
        meta = json.loads((WEB/'models'/model/'model.json').read_text())
        probs, known = head_answers(WEB/'models'/model, *backbone_outputs(WEB/'backbones'/info['file'], photos, meta))
        return [(meta['labels'][p.argmax()], bool(k)) for p, k in zip(probs, known)]
    return said

def choose(d, model):
    from selenium.webdriver.support.select import Select
    Select(d.find_element('css selector', '[data-fastbird=try] .fb-model')).select_by_value(model)

# ---- Try it ----
def test_a_bird_photo_is_a_bird(page, birds, site_answers):
    photos = jpgs(birds/'bird', 0, 8)
    photo = next(f for f, (label, known) in zip(photos, site_answers('birds', photos)) if label == 'bird' and known)
    choose(page, 'birds')
    (a,) = give(page, '[data-fastbird=try]', [photo])
    assert (a['label'], a['known']) == ('bird', 'true'), a
    assert a['text'].splitlines()[1] == 'bird' and "doesn't look like" not in a['text']
    assert a['probs']['bird'] > 0.5 and abs(sum(a['probs'].values()) - 1) < 1e-6

def test_a_cat_photo_doesnt_look_like_a_bird_or_a_forest(page, pets, site_answers):
    photos = jpgs(pets/'cat', 0, 12)
    unknown = [f for f, (_, known) in zip(photos, site_answers('birds', photos)) if not known]
    assert unknown, 'the birds model finds every cat photo familiar: its familiarity check tells nothing'
    choose(page, 'birds')
    (a,) = give(page, '[data-fastbird=try]', unknown[:1])
    assert a['known'] == 'false' and a['text'].splitlines()[1].startswith("doesn't look like any of: bird, forest (if it had to choose: ")

def test_a_non_image_gets_a_message_and_the_page_keeps_answering(page, birds, tmp_path):
    (tmp_path/'notes.txt').write_text('shopping: bird seed, a forest map\n')
    (tmp_path/'saved.jpg').write_text('<!DOCTYPE html><html><body>Access denied</body></html>')
    (tmp_path/'empty.png').write_bytes(b'')
    junk = [tmp_path/'notes.txt', tmp_path/'saved.jpg', tmp_path/'empty.png']
    Image.new('RGB', (40, 30), 'red').save(tmp_path/'scan.tif')
    said = give(page, '[data-fastbird=try]', junk + [tmp_path/'scan.tif'])
    for f, a in zip(junk, said):  # the message fastbird's own reader gives
        assert a['error'] and a['text'] == f"Can't read {f.name} as an image: {image_problem(f)}.", a
    assert said[-1]['error'] and 'a TIFF image, which browsers do not read' in said[-1]['text']  # PIL reads it; say why we don't
    (a,) = give(page, '[data-fastbird=try]', jpgs(birds/'bird', 1, 1))
    assert not a['error'] and a['label'] in ('bird', 'forest')

def test_dropped_and_pasted_photos_are_answered(page, birds):
    data = base64.b64encode(jpgs(birds/'forest', 0, 1)[0].read_bytes()).decode()
    before = len(cards(page, '[data-fastbird=try]'))
    page.execute_script("""
        const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0)), dt = () => {
          const t = new DataTransfer(); t.items.add(new File([bytes], arguments[1], {type: 'image/jpeg'})); return t; };
        document.querySelector('[data-fastbird=try] .fb-drop').dispatchEvent(new DragEvent('drop', {dataTransfer: dt(), bubbles: true, cancelable: true}));
        document.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt(), bubbles: true, cancelable: true}));""", data, 'forest.jpg')
    wait(page, lambda d: len(cards(d, '[data-fastbird=try]')) >= before + 2, what='answering a dropped and a pasted photo')
    a, b = cards(page, '[data-fastbird=try]')[:2]
    assert a['file'] == b['file'] == 'forest.jpg' and a['probs'] == b['probs'] and not a['error']

def test_a_camera_photo_is_answered(page):
    "Chromium's fake camera (a test pattern) stands in for the webcam."
    before = len(cards(page, '[data-fastbird=try]'))
    page.find_element('css selector', '[data-fastbird=try] .fb-camera-button').click()
    wait(page, lambda d: d.execute_script("return document.querySelector('[data-fastbird=try] video').videoWidth > 0"), what='the camera')
    page.find_element('css selector', '[data-fastbird=try] .fb-shot').click()
    wait(page, lambda d: len(cards(d, '[data-fastbird=try]')) > before, what='answering the camera photo')
    a = cards(page, '[data-fastbird=try]')[0]
    page.find_element('css selector', '[data-fastbird=try] .fb-camera-button').click()  # closes it
    assert a['file'] == 'camera photo 1' and not a['error'] and set(a['probs']) == {'bird', 'forest'}, a

@pytest.mark.parametrize('model,sets', [('birds', {'birds': ('bird', 'forest'), 'pets': ('cat',)}),
                                        ('pets', {'pets': ('cat', 'dog'), 'birds': ('bird',)})])
def test_the_page_answers_as_fastbird_predict(page, model, sets, birds, pets, downloads, tmp_path):
    "The site's model, downloaded from the page as a model folder, gives the page's answers through `fastbird predict`."
    photos = [f for name, labels in sets.items() for l in labels for f in jpgs({'birds': birds, 'pets': pets}[name]/l, 2, 3)]
    choose(page, model)
    said = give(page, '[data-fastbird=try]', photos)
    folder = download(page, '[data-fastbird=try] .fb-download', downloads, tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == ['familiar.safetensors', 'model.json', 'model.onnx', 'model.safetensors']
    same_answers(said, fastbird_predict(folder, photos))

# ---- Train your own here ----
def test_training_in_the_page(page, birds, pets, downloads, tmp_path):
    "Two labels of 10 photos: a held-out error, new photos answered, and a download `fastbird predict` agrees with."
    T = '[data-fastbird=train]'
    rows = page.find_elements('css selector', f'{T} .fb-label-row')
    for row, label in zip(rows, ('bird', 'forest')):
        row.find_element('css selector', '.fb-label-name').send_keys(label)
        row.find_element('css selector', 'input[type=file]').send_keys('\n'.join(map(str, jpgs(birds/label, 10, 10))))
    wait(page, lambda d: d.find_element('css selector', f'{T} .fb-train').is_enabled(), what='the Train button')
    page.find_element('css selector', f'{T} .fb-train').click()
    wait(page, lambda d: d.find_elements('css selector', f'{T} .fb-heldout, {T} .fb-report .fb-error'), what='training')
    held = page.find_element('css selector', f'{T} .fb-heldout')
    err, n_valid = float(held.get_attribute('data-error')), int(held.get_attribute('data-valid'))
    assert n_valid == 4 and held.text.startswith('Held out 4 of 20 photos') and 0 <= err <= 1
    assert f'{int(held.get_attribute("data-wrong"))} wrong' in held.text
    new = jpgs(birds/'bird', 30, 2) + jpgs(birds/'forest', 30, 1) + jpgs(pets/'dog', 0, 1)
    said = give(page, T, new, pick=len(rows))  # the file input after the labels' is the new photos'
    folder = download(page, f'{T} .fb-download', downloads, tmp_path)
    meta = json.loads((folder/'model.json').read_text())
    assert meta['labels'] == ['bird', 'forest'] and meta['weights'] == 'head' and meta['familiarity']['photos'] == 20
    assert meta['info']['valid_error'] == err and meta['info']['n_valid'] == 4
    same_answers(said, fastbird_predict(folder, new))

# ---- the page's parts are Python's ----
RESIZE_JS = """
const [b64, w, h, size, interp, done] = arguments;
import('./pil.js').then(pil => {
  const rgb = Uint8Array.from(atob(b64), c => c.charCodeAt(0)), out = pil.resize(rgb, w, h, size, size, interp);
  const x = pil.normalise(out, size, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]);
  const enc = a => { let s = ''; for (let i = 0; i < a.length; i += 0x8000) s += String.fromCharCode(...a.subarray(i, i + 0x8000)); return btoa(s); };
  done({pixels: enc(out), x: enc(new Uint8Array(x.buffer))});
}).catch(e => done({error: e.message}));"""

def test_resizing_is_pils_to_the_bit(page, birds):
    "pil.js squishes any picture to the very pixels PIL makes, and normalises them to `image_array`'s very numbers."
    rng = np.random.default_rng(0)
    real = np.asarray(read_image(jpgs(birds/'bird', 0, 1)[0]))
    cases = [(real, 224, 'bicubic'), (real, 192, 'bilinear'), (real[:37, :53], 224, 'bicubic'), (real, 7, 'bicubic'),
             (rng.integers(0, 256, (61, 300, 3), dtype=np.uint8), 100, 'bicubic'), (real[:, :224], 224, 'bilinear')]
    for a, size, interp in cases:
        h, w, _ = a.shape
        r = page.execute_async_script(RESIZE_JS, base64.b64encode(np.ascontiguousarray(a).tobytes()).decode(), w, h, size, interp)
        assert 'error' not in r, r
        got = np.frombuffer(base64.b64decode(r['pixels']), np.uint8).reshape(size, size, 3)
        want = Image.fromarray(a).resize((size, size), RESAMPLE[interp])
        assert (got == np.asarray(want)).all(), (a.shape, size, interp, np.abs(got.astype(int) - np.asarray(want)).max())
        x = np.frombuffer(base64.b64decode(r['x']), np.float32).reshape(3, size, size)
        assert (x == image_array(want, size, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225], interp)).all()

def test_float16_and_the_familiarity_threshold_are_numpys(page):
    "The page keeps features as numpy's float16 does, and calibrates the familiarity check as `calibrate_familiarity`."
    from fastbird.model import calibrate_familiarity
    rng = np.random.default_rng(1)
    ties = (np.arange(1, 500) + 0.5) * 2.**-10  # halfway between two float16 numbers: rounded to the even one
    v = np.concatenate([rng.normal(0, 1, 5000), rng.normal(0, 1e-5, 2000), ties, -ties,  # normal, subnormal halves
                        [0, 65504, 65519, 65520, 1e6, 6e-8, 2.98e-8, 1e-9]]).astype(np.float32)
    with np.errstate(over='ignore'): want = v.astype(np.float16).view(np.uint16).tolist()  # 1e6: too big, infinity
    bits = page.execute_async_script("""const [v, done] = arguments;
        import('./files.js').then(f => done(v.map(f.halfBits)));""", [float(x) for x in v])
    assert bits == want
    X = rng.normal(0, 1, (40, 64)).astype(np.float32) + 0.3
    fam = calibrate_familiarity(X)
    js = page.execute_script("const c = window.fastbird.calibrateFamiliarity(Float32Array.from(arguments[0]), 40, 64);"
                             "return {threshold: c.threshold, ref: Array.from(c.ref)};", X.ravel().tolist())
    assert abs(js['threshold'] - fam.threshold) < 1e-6, (js['threshold'], fam.threshold)
    assert np.abs(np.array(js['ref']) - fam.ref.ravel()).max() < 1e-3

def test_the_probe_is_the_lessons_loop(page):
    "`fitProbe` is `train_loop` (fastbird.descent) on standardised features, from zero, lr 0.1, 200 steps, cross-entropy."
    import torch, torch.nn.functional as F
    from fastbird.descent import train_loop
    rng = np.random.default_rng(2)
    n, d, k = 30, 16, 3
    y = np.arange(n) % k
    X = (rng.normal(0, 1, (n, d)) + np.eye(k, d)[y] * 2 + 5).astype(np.float32)
    js = page.execute_script("const r = window.fastbird.fitProbe(Float32Array.from(arguments[0]), arguments[1], arguments[2], arguments[3],"
                             " [...Array(arguments[2].length).keys()]); return {w: Array.from(r.weight), b: Array.from(r.bias), losses: r.losses};",
                             X.ravel().tolist(), d, y.tolist(), k)
    x = torch.tensor(X, dtype=torch.float64)
    mean, std = x.mean(0), x.std(0) + 1e-6
    w = [torch.zeros(k, d, dtype=torch.float64, requires_grad=True), torch.zeros(k, dtype=torch.float64, requires_grad=True)]
    log = train_loop(lambda x, w: x @ w[0].T + w[1], w, (x - mean) / std, torch.tensor(y), F.cross_entropy, lr=0.1, steps=200, device='cpu')
    np.testing.assert_allclose(js['losses'], log.losses, atol=1e-6)
    np.testing.assert_allclose(np.array(js['w']).reshape(k, d), (w[0] / std).detach().numpy(), atol=1e-4)
    np.testing.assert_allclose(js['b'], (w[1] - (w[0] * mean / std).sum(1)).detach().numpy(), atol=1e-4)

def test_without_its_runtime_the_page_says_what_to_do(browser, tmp_path):
    "A copy of the demo's folder without what `make web` builds: the page names the missing files and the command."
    shutil.copytree(WEB, tmp_path/'site', ignore=shutil.ignore_patterns('ort', 'backbones'))
    with Server(root=tmp_path/'site') as s:
        browser.get(f'{s.base}/files/index.html')
        wait(browser, lambda d: d.find_element('css selector', '[data-fastbird=try]').get_attribute('data-ready'), what='the error')
        status = browser.find_element('css selector', '[data-fastbird=try] .fb-status').text
        assert 'run `make web`' in status, status
