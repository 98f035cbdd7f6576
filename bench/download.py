"""Benchmark: fastbird's `fetch_images` against fastai's `download_images` + `verify_images` + `resize_images`.

One URL set (a few hundred images, most good, some duplicated, slow or broken) is served from a local server on
127.0.0.1 that adds 50-200 ms latency to every response; both run on it in turn, in one process, with the same number
of downloads at once and their own defaults (fastai: a 4 s socket timeout, no retry; fastbird: a stall is 2 s without a
byte or under 1 KB, retried once, and 10 s for a whole download). Run: `.venv/bin/python bench/download.py [--n 300]`.
Photos come from fastbird's data folder (`data_root()`: $FASTBIRD_DATA or shared/data), read by path."""
import warnings; warnings.filterwarnings('ignore', category=FutureWarning)
import argparse, hashlib, http.server, io, random, shutil, tempfile, threading, time
from pathlib import Path
from PIL import Image, ImageDraw

def jpeg(im, **kw): b = io.BytesIO(); im.convert('RGB').save(b, 'JPEG', **kw); return b.getvalue()

def make_files(n, seed=0):
    "URL path -> (body, behaviour): mostly real photos, some large generated ones, duplicates and broken responses."
    from fastbird.data import data_root
    rng, files = random.Random(seed), {}
    photos = sorted(data_root().glob('*/*/*.jpg'))[:int(n*.75)]
    for i, p in enumerate(photos): files[f'/p/{i}.jpg'] = (p.read_bytes(), 'ok')
    for i in range(int(n*.1)):  # big photos that need resizing
        im = Image.new('RGB', (1600, 1200), tuple(rng.randrange(256) for _ in range(3)))
        ImageDraw.Draw(im).ellipse([200, 200, 1400, 1000], fill=tuple(rng.randrange(256) for _ in range(3)))
        files[f'/big/{i}'] = (jpeg(im, quality=92), 'ok')
    some = list(files.items())
    for i in range(int(n*.05)): files[f'/dup/{i}.jpg'] = some[rng.randrange(len(some))][1]  # same bytes, another URL
    k = max(1, n//100)
    for i in range(k*3): files[f'/html/{i}.jpg'] = (b'<!DOCTYPE html><html><body>Forbidden</body></html>', 'ok')
    for i in range(k*2): files[f'/cut/{i}.jpg'] = (some[i][1][0][:len(some[i][1][0])//3], 'ok')
    for i in range(k*3): files[f'/gone/{i}.jpg'] = (b'', '404')
    for i in range(k): files[f'/trickle/{i}.jpg'] = (some[i][1][0], 'trickle')
    for i in range(k): files[f'/hang/{i}.jpg'] = (b'', 'hang')
    return files

def serve(files, lo=.05, hi=.2):
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a): pass
        def do_GET(self):
            time.sleep(random.uniform(lo, hi))
            body, how = files.get(self.path, (b'', '404'))
            if how=='404': return self.send_error(404)
            if how=='hang': return time.sleep(60)
            self.send_response(200); self.send_header('Content-Type', 'image/jpeg'); self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            try:
                if how=='trickle':
                    for b in body[:40]: self.wfile.write(bytes([b])); self.wfile.flush(); time.sleep(0.5)
                else: self.wfile.write(body)
            except OSError: pass
    class S(http.server.ThreadingHTTPServer):
        daemon_threads, block_on_close, request_queue_size = True, False, 128
        def handle_error(self, *a): pass
    s = S(('127.0.0.1', 0), H); threading.Thread(target=s.serve_forever, daemon=True).start()
    return s

def audit(dest):
    "Images that fully decode, duplicate contents among them, and files left that aren't whole images."
    good, bad, big, hashes = 0, 0, 0, {}
    for f in dest.rglob('*'):
        if not f.is_file() or f.name=='manifest.jsonl': continue
        try:
            with Image.open(f) as im: im.load(); big += max(im.size)>400
            good += 1; h = hashlib.sha1(f.read_bytes()).hexdigest(); hashes[h] = hashes.get(h, 0)+1
        except Exception: bad += 1
    return dict(kept=good, duplicates=sum(v-1 for v in hashes.values()), over_400px=big, partial_or_broken=bad)

def run_fastbird(urls, dest, workers):
    from fastbird.fetch import fetch_images
    fetch_images(dest, urls, n_workers=workers, progress=False)

def run_fastai(urls, dest, workers):
    from fastai.vision.utils import download_images, verify_images, resize_images
    from fastai.data.transforms import get_image_files
    download_images(dest, urls=urls, n_workers=workers)
    for f in verify_images(get_image_files(dest)): f.unlink()
    resize_images(dest, max_size=400, dest=dest)  # its progress bar goes to stderr

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=300, help='about how many URLs (default: 300)')
    ap.add_argument('--no-slow', action='store_true', help='leave out the trickling and hanging servers')
    ap.add_argument('--workers', type=int, default=8, help='parallel downloads for both (default: 8)')
    a = ap.parse_args()
    import fastai.vision.utils, fastbird.fetch  # imports outside the timings
    files = make_files(a.n)
    if a.no_slow: files = {k: v for k, v in files.items() if v[1] not in ('trickle', 'hang')}
    s = serve(files)
    urls = [f'http://127.0.0.1:{s.server_port}{p}' for p in files]
    random.Random(1).shuffle(urls)
    print(f'{len(urls)} URLs: {sum(p.startswith(("/p/","/big/")) for p in files)} distinct good images, '
          f'{sum(p.startswith("/dup/") for p in files)} duplicate URLs, '
          f'{sum(not p.startswith(("/p/","/big/","/dup/")) for p in files)} broken/slow; latency 50-200 ms; {a.workers} workers')
    rows, tmp = {}, Path(tempfile.mkdtemp())
    for name, fn in [('fastbird', run_fastbird), ('fastai', run_fastai)]:
        dest = tmp/name; t = time.monotonic(); fn(urls, dest, a.workers); dt = time.monotonic()-t
        r = audit(dest); rows[name] = dict(wall_s=f'{dt:.1f}', images_per_s=f'{r["kept"]/dt:.1f}', **r)
    shutil.rmtree(tmp); s.shutdown()
    keys = list(rows['fastbird']); print()
    print(f'{"":20}' + ''.join(f'{n:>12}' for n in rows))
    for k in keys: print(f'{k:20}' + ''.join(f'{rows[n][k]:>12}' for n in rows))
    print(f"\nfastbird's wall time / fastai's: {float(rows['fastbird']['wall_s'])/float(rows['fastai']['wall_s']):.2f}")

if __name__=='__main__': main()
