"""Check the docs pages offline, the way a reader would see them.

Quarto (which builds the real site on GitHub) is not installable here, so this script:
1. processes the notebooks with the real `nbdev-proc-nbs` (a stand-in `quarto` on PATH stops nbdev from trying to
   install Quarto; processing itself never calls it);
2. renders every processed page to HTML with nbconvert, mermaid diagrams included (mermaid.js from npm when available),
   into the site's layout: `lesson/00_is_it_a_bird.ipynb` becomes `lesson/is_it_a_bird.html`, as nbdev names it;
3. opens each page in one headless Chromium (driven by selenium), takes a screenshot, and reads back what it saw;
4. fails on a page with an error output, a warning printed, a broken image, a mermaid diagram that did not render,
   an empty API section, or a link to a page the site does not have.

Links follow Quarto's rule for a website: a relative link is read from the linking page's folder; a link to a notebook
(`../library/06_model.ipynb`) goes to the page Quarto renders from it, named by its front matter's `output-file`
(which nbdev sets: `nbpath2html`, the number prefix dropped); a `.html` link must name such a page; a link to the docs
site of pyproject.toml's [project.urls] is read from the site's root. Pictures on other sites (the "Open in Kaggle"
badges) can't be loaded offline, so they are counted, not judged.

Usage: python tools/check_pages.py [--out screenshots]
"""
import argparse, json, os, posixpath, re, shutil, subprocess, sys, tempfile, time, tomllib
from functools import lru_cache
from html import escape as html_escape
from pathlib import Path

import nbformat, yaml
from nbconvert import HTMLExporter
from nbconvert.preprocessors import TagRemovePreprocessor

from chromium import chromium, find_browser  # beside this file: on the path when it runs, and in the tests

ROOT = Path(__file__).resolve().parents[1]
MERMAID_JS = ROOT/'.cache'/'mermaid'/'node_modules'/'mermaid'/'dist'/'mermaid.min.js'
DOC_URL = tomllib.loads((ROOT/'pyproject.toml').read_text())['project']['urls']['Documentation'].rstrip('/') + '/'

def proc_nbs(workers:int=2):
    "Run `nbdev-proc-nbs` with `workers` processes (0: in its own) and return the folder of processed notebooks."
    shim = Path(tempfile.mkdtemp())/'quarto'
    shim.write_text('#!/bin/sh\necho "quarto is not available on this machine" >&2\nexit 1\n')
    shim.chmod(0o755)
    bindir = Path(sys.executable).parent
    env = {**os.environ, 'PATH': f"{shim.parent}{os.pathsep}{bindir}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run([str(bindir/'nbdev-proc-nbs'), '--n-workers', str(workers)], cwd=ROOT, env=env, check=True)
    return ROOT/'_proc'

def mermaid_js():
    "mermaid.min.js from the npm registry (cached in .cache/), or None when npm is not available."
    if not MERMAID_JS.exists() and shutil.which('npm'):
        subprocess.run(['npm', 'install', '--silent', '--no-audit', '--no-fund', '--prefix', str(MERMAID_JS.parents[3]),
                        'mermaid@11'], check=False, capture_output=True)
    return MERMAID_JS.read_text() if MERMAID_JS.exists() else None

def api_names(nb):
    "Names documented by `show_doc` cells, with whether each rendered any text."
    res = {}
    for c in nb.cells:
        m = re.search(r'show_doc\(([\w.]+)', c.source) if c.cell_type == 'code' else None
        if m: res[m.group(1)] = any(o.get('data', {}).get('text/markdown', '').strip() for o in c.get('outputs', []))
    return res

def page_name(nb, path) -> str:
    "The page's file name: its front matter's `output-file`, as nbdev set it, else nbdev's rule for the notebook's name."
    from nbdev.config import nbpath2html
    for c in nb.cells:
        m = re.search(r'^output-file:\s*(\S+)', c.source, re.M) if c.cell_type == 'raw' else None
        if m: return m.group(1).strip('"\'')
    return nbpath2html(Path(path)).name

def site_pages(nbs:dict) -> dict:
    "{notebook path relative to the notebooks' folder (posix): the page's path on the site}, for processed `nbs`."
    return {rel: posixpath.join(posixpath.dirname(rel), page_name(nb, rel)) for rel, nb in nbs.items()}

LINK_RE = re.compile(r'\]\(\s*<?([^)\s>]+)|href\s*=\s*["\']([^"\']+)["\']')

def resolve(src:str, href:str, pages:dict):
    "Where `href`, in the notebook `src` (a key of `pages`), leads on the site: (page, None), (None, broken target), or None for no page."
    url = re.split(r'[#?]', href)[0]
    if not url: return None  # an anchor on the same page
    base = next((b for b in (DOC_URL, DOC_URL.replace('https://', 'http://')) if url.startswith(b) or url == b[:-1]), None)
    if base: target = url[len(base):] or 'index.html'
    elif re.match(r'^[a-zA-Z][\w+.-]*:|^//', url): return None  # another site
    else: target = posixpath.normpath(posixpath.join(posixpath.dirname(src), url))
    if target.endswith('/'): target += 'index.html'
    if target.endswith('.html.md'): target = target[:-3]  # the markdown twin of a page
    if target.endswith('.ipynb'): return (pages[target], None) if target in pages else (None, target)
    if target.endswith('.html'): return (target, None) if target in pages.values() else (None, target)
    return None  # a picture or another file: the browser judges those

def internal_links(text) -> list:
    "Every link target in markdown or HTML `text`."
    return [m.group(1) or m.group(2) for m in LINK_RE.finditer(text or '')]

def link_problems(nb, src:str, pages:dict) -> list:
    "Links in a processed notebook's markdown and outputs that lead to no page of the site."
    texts = [c.source for c in nb.cells if c.cell_type == 'markdown']
    texts += [v if isinstance(v, str) else ''.join(v) for c in nb.cells for o in c.get('outputs', [])
              for k, v in o.get('data', {}).items() if k in ('text/markdown', 'text/html')]
    bad = sorted({r[1] for t in texts for l in internal_links(t) if (r := resolve(src, l, pages)) and r[1]})
    return [f'link to a page the site does not have: {l}' for l in bad]

WARNING = re.compile(r'\w+Warning: .*')  # a Python warning, as `warnings` prints it

def notebook_problems(nb, src:str=None, pages:dict=None):
    "Error outputs, warnings, empty API entries and (given the site's `pages`) links to missing pages in a processed page."
    probs = []
    for c in nb.cells:
        for o in c.get('outputs', []):
            if o.get('output_type') == 'error': probs.append(f"error output: {o.get('ename')}: {o.get('evalue')}"[:200])
            if o.get('output_type') != 'stream': continue
            if 'Traceback (most recent call last)' in o.get('text', ''): probs.append('a traceback printed in an output')
            if o.get('name') == 'stderr' and (w := WARNING.search(o.get('text', ''))):
                probs.append(f'a warning shows on the page: {w.group(0)[:120]}')
    probs += [f'empty API entry: {n}' for n, ok in api_names(nb).items() if not ok]
    if pages is not None: probs += link_problems(nb, src, pages)
    return probs

CHECK_JS = """<script>
window.addEventListener('load', async () => {
  if (window.mermaid) { try { await mermaid.run({querySelector: '.mermaid'}); } catch (e) {} }
  const imgs = [...document.images], local = imgs.filter(i => !/^https?:/.test(i.getAttribute('src') || ''));
  const bad = local.filter(i => !i.complete || i.naturalWidth === 0).map(i => (i.getAttribute('src')||'').slice(0, 60));
  const merm = [...document.querySelectorAll('.mermaid')];
  const unrendered = merm.filter(d => !d.querySelector('svg') || d.textContent.includes('Syntax error')).length;
  const r = {images: local.length, external_images: imgs.length - local.length, broken: bad, mermaid: merm.length,
             mermaid_failed: unrendered, text: document.body.innerText.length};
  document.body.setAttribute('data-check', JSON.stringify(r));
});
</script>"""

def front_matter(src):
    "Title and description from a Quarto front-matter block, as the page heading Quarto would show."
    meta = yaml.safe_load(src.strip().strip('-')) or {}
    return f"# {meta.get('title', '')}\n\n*{meta.get('description', '')}*"

def to_html(nb, mjs, src:str=None, pages:dict=None, mjs_url:str=None):
    "HTML page for a processed notebook, shown roughly as Quarto shows it (links to notebooks lead to their pages)."
    here = posixpath.dirname(pages[src]) if src else ''
    def relink(m):
        r = resolve(src, m.group(2), pages) if src else None
        if not r or not r[0]: return m.group(0)
        anchor = m.group(2)[len(re.split(r'[#?]', m.group(2))[0]):]
        return f'{m.group(1)}{posixpath.relpath(r[0], here or ".")}{anchor})'
    for c in nb.cells:
        for k in set(c) - {'cell_type', 'source', 'metadata', 'outputs', 'execution_count', 'id', 'attachments'}:
            del c[k]  # nbdev's processing marks (such as `has_sd`) that nbformat's schema rejects
        c.metadata.pop('execution', None)
        if c.cell_type == 'raw' and c.source.startswith('---'): c.cell_type, c.source = 'markdown', front_matter(c.source)
        if c.cell_type == 'markdown':
            c.source = re.sub(r'```\{mermaid\}\n(.*?)```', lambda m: f'<div class="mermaid">\n{m.group(1)}</div>', c.source, flags=re.S)
            c.source = re.sub(r'(\]\(\s*)([^)\s]+\.ipynb(?:#[\w-]*)?)\)', relink, c.source)
        if c.cell_type == 'code' and re.search(r'^#\|\s*echo:\s*false', c.source, flags=re.M):
            c.metadata.setdefault('tags', []).append('remove_input')
        for o in c.get('outputs', []):  # Quarto link attributes that plain markdown would print
            if 'text/markdown' in o.get('data', {}): o['data']['text/markdown'] = re.sub(r'\{target=[^}]*\}', '', o['data']['text/markdown'])
    html, _ = exporter().from_notebook_node(nb)
    has_mermaid = any('class="mermaid"' in c.source for c in nb.cells if c.cell_type == 'markdown')
    mjs_tag = '' if not has_mermaid else f'<script src="{mjs_url}"></script>' if mjs_url else f'<script>{mjs}</script>' if mjs else ''
    head = (mjs_tag + '<script>mermaid.initialize({startOnLoad:false});</script>' if mjs_tag else '') + CHECK_JS
    return html.replace('</head>', head + '</head>', 1)

@lru_cache
def exporter() -> HTMLExporter:
    "nbconvert's HTML exporter, made once: its templates take longer to load than most pages take to render."
    exp = HTMLExporter(template_name='lab')
    exp.register_preprocessor(TagRemovePreprocessor(remove_input_tags={'remove_input'}), enabled=True)
    # Code as plain text: the check judges pictures, diagrams, links and errors, and colouring the code (pygments, then
    # bleach over its output) took half of the check's time. Quarto, which builds the real site, sanitises nothing.
    exp.register_filter('highlight_code', lambda source, **kw: f'<pre>{html_escape(source)}</pre>')
    exp.register_filter('clean_html', lambda text: text)
    return exp

CHECK_ARGS = ('--disable-quic', '--no-first-run', '--hide-scrollbars', '--disable-background-networking',
              '--disable-component-update', '--disable-sync',
              '--host-resolver-rules=MAP * ~NOTFOUND')  # offline at once: a badge on another site fails, not waits

class Browser:
    "One headless Chromium for every page: open a page, wait for its report, take a screenshot."
    def __init__(self, browser:tuple=None): # (browser, driver) paths; by default `find_browser()`'s
        self.d = chromium(1200, 1800, args=CHECK_ARGS, browser=browser)
        self.d.set_page_load_timeout(60)
    def check(self, html_path:Path, png_path:Path=None, timeout:float=30) -> dict:
        "Open `html_path`; what the page reported about itself once loaded (and a screenshot in `png_path`)."
        self.d.get(Path(html_path).resolve().as_uri())
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            r = self.d.execute_script("return document.body && document.body.getAttribute('data-check')")
            if r:
                if png_path: self.d.save_screenshot(str(png_path))
                return json.loads(r)
            time.sleep(0.1)
        return {'error': 'the page never finished loading'}
    def close(self): self.d.quit()
    def __enter__(self): return self
    def __exit__(self, *a): self.close()

def browse(browser, html_path, png_path):
    "Screenshot `html_path` and return what the page reported about itself (one page, one browser)."
    with Browser(browser) as b: return b.check(html_path, png_path)

def main(out='screenshots', shots:bool=True, workers:int=2):
    "Check every page, writing its HTML (and, with `shots`, a screenshot) into `out`; the number of pages that failed."
    browser, out = find_browser(), ROOT/out
    proc = proc_nbs(workers)
    if out.exists(): shutil.rmtree(out)
    out.mkdir()
    for f in proc.rglob('*'):  # pictures and other files pages link to sit beside the pages, as on the site
        if f.is_file() and f.suffix != '.ipynb' and not any(p.startswith(('.', '_')) for p in f.relative_to(proc).parts):
            (out/f.relative_to(proc)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, out/f.relative_to(proc))
    mjs = mermaid_js()
    if mjs: (out/'mermaid.min.js').write_text(mjs)  # one copy, which the pages with diagrams load
    nbs = {f.relative_to(proc).as_posix(): nbformat.read(f, as_version=4) for f in sorted(proc.rglob('*.ipynb'))
           if not any(p.startswith(('.', '_')) for p in f.relative_to(proc).parts)}
    pages = site_pages(nbs)
    failed = 0
    with Browser(browser) as b:
        for src, nb in nbs.items():
            probs = notebook_problems(nb, src, pages)
            html = out/pages[src]
            html.parent.mkdir(parents=True, exist_ok=True)
            url = posixpath.relpath('mermaid.min.js', posixpath.dirname(pages[src]) or '.') if mjs else None  # one file, cached
            html.write_text(to_html(nb, None, src, pages, mjs_url=url))
            r = b.check(html, html.with_suffix('.png') if shots else None)
            if 'error' in r: probs.append(r['error'])
            else:
                probs += [f'broken image: {s}' for s in r['broken']]
                if r['mermaid_failed'] and mjs: probs.append(f"{r['mermaid_failed']} mermaid diagram(s) did not render")
                if r['text'] < 200: probs.append('the page is almost empty')
            print(f"{pages[src]:32} images={r.get('images', '?'):<3} external={r.get('external_images', '?'):<2} "
                  f"mermaid={r.get('mermaid', '?'):<2} api={len(api_names(nb)):<3} "
                  f"{'OK' if not probs else 'FAIL: ' + '; '.join(probs)}")
            failed += bool(probs)
    print(f"{len(nbs) - failed} passed, {failed} failed")
    return failed

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default='screenshots', help='folder for the HTML pages and screenshots')
    sys.exit(1 if main(p.parse_args().out) else 0)
