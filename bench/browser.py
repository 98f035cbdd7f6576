"""The docs site's browser demo in headless Chromium on this machine, single-threaded (onnxruntime-web uses one thread
where the page can't share memory between threads, as on GitHub Pages): bytes shipped, page load to first answer, time
per photo, training time in the page for 20 and 100 photos, and how the page's answers compare with Python's.

    .venv/bin/python bench/browser.py [--loads N] [--photos N] [--out bench/out/browser.json]

Needs the built folder (`make web`) and the course photos ($FASTBIRD_DATA). Prints the figures; asserts nothing.
- load: a fresh Chromium opens the page and is given a photo at once; the figure is the time from navigation start
  to that photo's answer (the network and model download and start in that time), the median of --loads runs;
- per photo: 20 more photos, answered one after the other; decode, resize and network are the page's own timings;
- training: 10 + 10 and 50 + 50 bird and forest photos, features and fit as the page reports them;
- parity: --photos photos per model (a quarter from each label of both photo sets) through the page, against
  `fastbird predict` on the model folder the page downloads;
- special files: pictures made here in formats and modes that test a decoder, decoded by Chromium and by PIL;
- decoding and resizing: every course photo decoded by Chromium and by PIL (are the pixels the same?), and the
  site's models' answers when the photo is squished by a canvas (`drawImage`, the browser's own filter) instead of
  pil.js (PIL's filter, what the page uses)."""
import argparse, base64, gzip, hashlib, json, shutil, statistics, subprocess, sys, tempfile, time, zipfile
from pathlib import Path

import numpy as np
from fastbird.data import lesson_data
from fastbird.images import read_image
from fastbird.web import SITE, serve_folder, site_bytes

sys.path.insert(0, str(Path(__file__).resolve().parents[1]/'tools'))
from chromium import chromium  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WEB = ROOT/SITE

def browser(downloads=None):
    "Headless Chromium (tools/chromium.py), given an hour for a script: the bench's 100-photo training."
    d = chromium(downloads=downloads)
    d.set_script_timeout(3600)
    return d

def wait(d, cond, timeout=1800):
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(d, timeout, poll_frequency=0.05).until(cond)

def answers(d, scope):
    return d.find_elements('css selector', f'{scope} .fb-answer')

def give(d, scope, files, pick=0):
    before = len(answers(d, scope))
    d.find_elements('css selector', f'{scope} input[type=file]')[pick].send_keys('\n'.join(map(str, files)))
    wait(d, lambda d: len(answers(d, scope)) >= before + len(files))
    return [{k: e.get_attribute(f'data-{k}') for k in ('file', 'label', 'known', 'probs', 'ms', 'at')} | {'timing': e.text.splitlines()[-1]}
            for e in answers(d, scope)[:len(files)][::-1]]

def ready(d, url):
    d.get(url)
    wait(d, lambda d: all(e.get_attribute('data-ready') for e in d.find_elements('css selector', '[data-fastbird]')))

def jpgs(folder, start, n): return sorted(Path(folder).glob('*.jpg'))[start:start+n]

def load_to_first_answer(url, photo, n):
    "ms from navigation start to the first photo's answer, a photo given as soon as the page has loaded; n fresh browsers."
    res = []
    for _ in range(n):
        d = browser()
        try:
            d.get(url)
            (a,) = give(d, '[data-fastbird=try]', [photo])
            res.append({'first answer ms': float(a['at']), 'ready': d.find_element('css selector', '[data-fastbird=try] .fb-status').text})
        finally: d.quit()
    return res

def per_photo(d, photos):
    said = give(d, '[data-fastbird=try]', photos)
    parts = {k: [] for k in ('decode', 'resize', 'network')}
    for a in said:  # "123 ms for this photo (decode 4 ms, resize 10 ms, network 100 ms)"
        t = a['timing'].split('(')[1].split(')')[0]
        for part in t.split(', '):
            name, v, unit = part.split()
            parts[name].append(float(v) * (1000 if unit == 's' else 1))
    return {'photos': len(said), 'ms a photo (median)': statistics.median(float(a['ms']) for a in said),
            **{f'{k} ms (median)': statistics.median(v) for k, v in parts.items()}}

def train_in_page(d, url, birds, n):
    ready(d, url)
    T = '[data-fastbird=train]'
    for row, label in zip(d.find_elements('css selector', f'{T} .fb-label-row'), ('bird', 'forest')):
        row.find_element('css selector', '.fb-label-name').send_keys(label)
        row.find_element('css selector', 'input[type=file]').send_keys('\n'.join(map(str, jpgs(birds/label, 0, n))))
    wait(d, lambda d: d.find_element('css selector', f'{T} .fb-train').is_enabled())
    d.find_element('css selector', f'{T} .fb-train').click()
    wait(d, lambda d: d.find_elements('css selector', f'{T} .fb-heldout'))
    h = d.find_element('css selector', f'{T} .fb-heldout')
    return {'photos': 2*n, **{k: float(h.get_attribute(f'data-{k}')) for k in ('seconds', 'features-seconds', 'fit-seconds', 'error')}}

def parity(d, url, model, photos, downloads):
    "Largest probability difference between the page and `fastbird predict` on the downloaded folder; disagreements."
    from selenium.webdriver.support.select import Select
    ready(d, url)
    Select(d.find_element('css selector', '[data-fastbird=try] .fb-model')).select_by_value(model)
    said = give(d, '[data-fastbird=try]', photos)
    before = set(downloads.iterdir())
    d.find_element('css selector', '[data-fastbird=try] .fb-download').click()
    z = wait(d, lambda _: next((f for f in set(downloads.iterdir()) - before if f.suffix == '.zip'), False))
    out = Path(tempfile.mkdtemp())
    with zipfile.ZipFile(z) as zf: zf.extractall(out)
    (folder,) = out.iterdir()
    r = subprocess.run([str(Path(sys.executable).parent/'fastbird'), 'predict', str(folder), *map(str, photos), '--json'],
                       capture_output=True, text=True, check=True)
    worst, differ = 0., 0
    for a, line in zip(said, r.stdout.splitlines()):
        p, probs = json.loads(line), json.loads(a['probs'])
        worst = max(worst, *(abs(probs[l] - p['probs'][l]) for l in probs))
        differ += (a['label'], a['known']) != (p['label'], str(p['known']).lower())
    return {'model': model, 'photos': len(photos), 'largest probability difference': worst, 'answers that differ': differ}

DECODE_JS = """
const [photos, done] = arguments;
(async () => {
  const fb = window.fastbird, base = new URL('./', location.href), res = [];
  window.benchParts ??= {bb: await fb.Backbone.load(new URL('backbones/efficientnet_lite0.onnx', base), base),
                         models: {birds: await fb.Model.load('models/birds/', base), pets: await fb.Model.load('models/pets/', base)}};
  const {bb, models} = window.benchParts;
  for (const [name, b64] of photos) {
    const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0)), p = await fb.readPhoto(new Blob([bytes]), name);
    const sha = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', p.rgb)), b => b.toString(16).padStart(2, '0')).join('');
    const row = {name, sha, w: p.width, h: p.height};
    for (const resizer of ['pil', 'canvas']) {
      for (const [m, model] of Object.entries(models)) {
        const x = fb.photoArray(p, model.meta, {resizer}), out = await bb.run(x, 1, model.meta.size), a = model.answer(out.pooled, out.features);
        row[`${m} ${resizer}`] = {label: a.label, known: a.known, probs: Object.values(a.probs)};
      }
    }
    res.push(row);
  }
  done(res);
})().catch(e => done({error: e.message}));"""

def decoding_and_resizing(d, url, photos):
    "Chromium's decoded pixels against PIL's, and what a canvas's resizing would change in the site's models' answers."
    ready(d, url)
    rows = []
    for i in range(0, len(photos), 20):  # in parts: the driver gives up on a script after 120 s
        part = d.execute_async_script(DECODE_JS, [[f.name, base64.b64encode(f.read_bytes()).decode()] for f in photos[i:i+20]])
        if isinstance(part, dict): raise SystemExit(part['error'])
        rows += part
    same = sum(r['sha'] == hashlib.sha256(np.asarray(read_image(f)).tobytes()).hexdigest() for r, f in zip(rows, photos))
    res = {'photos': len(rows), 'decoded pixels identical to PIL': same}
    for m in ('birds', 'pets'):
        a, b = [r[f'{m} pil'] for r in rows], [r[f'{m} canvas'] for r in rows]
        res[m] = {'labels changed by canvas resizing': sum(x['label'] != y['label'] for x, y in zip(a, b)),
                  'familiarity changed': sum(x['known'] != y['known'] for x, y in zip(a, b)),
                  'largest probability difference': max(max(abs(p - q) for p, q in zip(x['probs'], y['probs'])) for x, y in zip(a, b))}
    return res

def special_files() -> dict:
    "Pictures made here that test a decoder: their name and bytes."
    import io
    from PIL import Image, ImageDraw
    def enc(im, fmt, **kw): b = io.BytesIO(); im.save(b, fmt, **kw); return b.getvalue()
    base = Image.new('RGB', (320, 240), 'teal'); ImageDraw.Draw(base).ellipse([40, 40, 280, 200], fill='orange')
    rgba = Image.new('RGBA', (256, 64)); rgba.putdata([(200, 30 + y, 90, x) for y in range(64) for x in range(256)])
    rot = base.copy(); ex = rot.getexif(); ex[0x0112] = 6
    return {'baseline JPEG': enc(base, 'JPEG'), 'progressive JPEG': enc(base, 'JPEG', progressive=True),
            'CMYK JPEG': enc(base.convert('CMYK'), 'JPEG'), 'JPEG with EXIF rotation': enc(rot, 'JPEG', exif=ex),
            'PNG': enc(base, 'PNG'), 'PNG with partial transparency': enc(rgba, 'PNG'), 'grey PNG': enc(base.convert('L'), 'PNG'),
            '16-bit PNG': enc(Image.new('I;16', (300, 200), 40000), 'PNG'), 'palette GIF': enc(base.convert('P'), 'GIF'),
            'WebP': enc(base, 'WEBP'), 'TIFF': enc(base, 'TIFF'), 'JPEG cut short': enc(base, 'JPEG')[:3000]}

SPECIAL_JS = """const [b64, done] = arguments;
window.fastbird.readPhoto(new Blob([Uint8Array.from(atob(b64), c => c.charCodeAt(0))]), 'it').then(p => {
  crypto.subtle.digest('SHA-256', p.rgb).then(h => done({sha: Array.from(new Uint8Array(h), b => b.toString(16).padStart(2, '0')).join('')}));
}, e => done({error: e.message}));"""

def special(d, url) -> dict:
    "For each special file: the same pixels as PIL, or what each says when it can't read it."
    from fastbird.images import ImageReadError
    ready(d, url)
    res = {}
    for name, data in special_files().items():
        r = d.execute_async_script(SPECIAL_JS, base64.b64encode(data).decode())
        try: sha, pil = hashlib.sha256(np.asarray(read_image(data)).tobytes()).hexdigest(), None
        except ImageReadError as e: sha, pil = None, e.reason
        res[name] = ('same pixels as PIL' if r.get('sha') == sha else 'other pixels than PIL') if sha and 'sha' in r else \
                    f"page: {r.get('error') or 'read'}; PIL: {pil or 'read'}"
    return res

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--loads', type=int, default=3, help='fresh page loads to time (default: %(default)s)')
    ap.add_argument('--photos', type=int, default=40, help='photos per model for the parity check (default: %(default)s)')
    ap.add_argument('--decode', type=int, default=0, help='photos for the decoding and resizing figures (default: every course photo)')
    ap.add_argument('--out', default=str(ROOT/'bench'/'out'/'browser.json'), help='where to write the figures as JSON')
    a = ap.parse_args()
    missing = [p for p in ('ort/ort-wasm-simd-threaded.wasm', 'backbones/efficientnet_lite0.onnx') if not (WEB/p).is_file()]
    if missing: raise SystemExit(f"{WEB} lacks {', '.join(missing)}: run `make web` first.")
    birds, pets = lesson_data('birds'), lesson_data('pets')
    res = {'machine': 'this one, headless Chromium, onnxruntime-web on 1 thread'}
    res['bytes'] = {f: {'bytes': n, 'gzip': len(gzip.compress((WEB/f).read_bytes(), 6))} for f, n in site_bytes(WEB).items()}
    srv, downloads = serve_folder(WEB), Path(tempfile.mkdtemp())
    url = srv.url + 'index.html'
    try:
        res['load to first answer'] = load_to_first_answer(url, jpgs(birds/'bird', 0, 1)[0], a.loads)
        print(json.dumps(res['load to first answer'], indent=1), flush=True)
        d = browser(downloads)
        try:
            ready(d, url)
            give(d, '[data-fastbird=try]', jpgs(birds/'bird', 0, 1))  # the first answer warms the network up
            res['per photo'] = per_photo(d, jpgs(birds/'bird', 1, 10) + jpgs(birds/'forest', 1, 10))
            print(json.dumps(res['per photo'], indent=1), flush=True)
            res['training'] = [train_in_page(d, url, birds, n) for n in (10, 50)]
            print(json.dumps(res['training'], indent=1), flush=True)
            q = max(1, a.photos // 4)
            sets = {'birds': [birds/'bird', birds/'forest', pets/'cat', pets/'dog'], 'pets': [pets/'cat', pets/'dog', birds/'bird', birds/'forest']}
            res['parity'] = [parity(d, url, m, [f for folder in folders for f in jpgs(folder, 40, q)], downloads) for m, folders in sets.items()]
            print(json.dumps(res['parity'], indent=1), flush=True)
            res['special files'] = special(d, url)
            print(json.dumps(res['special files'], indent=1), flush=True)
            photos = sorted(f for s in (birds, pets) for f in s.rglob('*.jpg'))
            res['decoding and resizing'] = decoding_and_resizing(d, url, photos[:a.decode] if a.decode else photos)
            print(json.dumps(res['decoding and resizing'], indent=1), flush=True)
        finally: d.quit()
    finally: srv.shutdown()
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(res, indent=1))
    total = sum(v['bytes'] for f, v in res['bytes'].items() if not f.startswith('models/pets'))
    gz = sum(v['gzip'] for f, v in res['bytes'].items() if not f.startswith('models/pets'))
    loads = [r['first answer ms'] for r in res['load to first answer']]
    print(f"\nbytes for the page with one model: {total/1e6:.1f} MB ({gz/1e6:.1f} MB gzipped)")
    print(f"page load to first answer: {statistics.median(loads)/1000:.1f} s (median of {len(loads)}: {', '.join(f'{x/1000:.1f}' for x in loads)})")
    print(f"time per photo: {res['per photo']['ms a photo (median)']:.0f} ms")
    for t in res['training']: print(f"training on {t['photos']:.0f} photos: {t['seconds']:.1f} s (features {t['features-seconds']:.1f} s, fit {t['fit-seconds']:.2f} s)")
    for p in res['parity']: print(f"page vs fastbird predict, {p['model']}: {p['photos']} photos, largest probability difference {p['largest probability difference']:.1e}, {p['answers that differ']} answers differ")
    print(f"written to {a.out}")

if __name__ == '__main__':
    main()
