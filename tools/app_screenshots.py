"""Take the pictures of the app that nbs/04f_app.ipynb shows: `make_app(MODEL_DIR)` served on loopback, opened in
headless Chromium (the Debian `chromium` and `chromium-driver`, through Selenium), a photo uploaded through the page
(app-answer.png), a photo of something else (app-unfamiliar.png), then a web page saved under an image name
(app-error.png). PNGs are reduced to a 256-colour palette when that keeps them under 150 KB.

Usage: python tools/app_screenshots.py MODEL_DIR PHOTO OTHER_PHOTO [--out nbs/images]
(MODEL_DIR: e.g. the `model/` folder of a Space that `fastbird space ... --examples DIR` wrote, so the examples show.)
"""
import argparse, sys, tempfile, time
from pathlib import Path

from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from fastbird.app import make_app
from chromium import chromium

LIMIT = 150_000

def browser(width=1000, height=900):
    "Headless Chromium (tools/chromium.py), scrollbars hidden."
    return chromium(width, height, args=('--hide-scrollbars',))

def upload(d, url, f, wait_for):
    "Open the app at `url`, upload file `f` through its file input, press Submit and wait for the `wait_for` element."
    d.get(url)
    WebDriverWait(d, 30).until(lambda d: d.find_element(By.CSS_SELECTOR, 'input[type=file]')).send_keys(str(f))
    WebDriverWait(d, 30).until(lambda d: d.find_element(By.CSS_SELECTOR, '[data-testid=image] img'))
    d.find_element(By.XPATH, "//button[normalize-space()='Submit']").click()
    WebDriverWait(d, 30).until(lambda d: d.find_element(By.CSS_SELECTOR, wait_for))
    time.sleep(1)  # the bars' animation

def small_png(png:Path):
    "Reduce `png` to a 256-colour palette if that is what keeps it under `LIMIT` bytes."
    if png.stat().st_size > LIMIT: Image.open(png).convert('RGB').quantize(256, method=Image.Quantize.MEDIANCUT).save(png, optimize=True)
    return png.stat().st_size

def main(model_dir, photo, other, out):
    out = Path(out); out.mkdir(parents=True, exist_ok=True)
    demo = make_app(model_dir)
    demo.launch(server_name='127.0.0.1', prevent_thread_lock=True, quiet=True, inline=False)
    d = browser()
    try:
        upload(d, demo.local_url, Path(photo).resolve(), '[data-testid=label-output-value]')
        d.save_screenshot(str(out/'app-answer.png'))
        upload(d, demo.local_url, Path(other).resolve(), '[data-testid=toast-body]')
        d.save_screenshot(str(out/'app-unfamiliar.png'))
        junk = Path(tempfile.mkdtemp())/'notapet.jpg'
        junk.write_text('<html>403 Forbidden</html>')
        upload(d, demo.local_url, junk, '[data-testid=toast-body]')
        d.save_screenshot(str(out/'app-error.png'))
    finally: d.quit(); demo.close()
    for n in ('app-answer.png', 'app-unfamiliar.png', 'app-error.png'): print(f'{out/n}: {small_png(out/n)/1000:.0f} KB')

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('model_dir'); p.add_argument('photo', help='a photo of one of its labels')
    p.add_argument('other', help='a photo of something else'); p.add_argument('--out', default='nbs/images')
    a = p.parse_args()
    sys.exit(main(a.model_dir, a.photo, a.other, a.out))
