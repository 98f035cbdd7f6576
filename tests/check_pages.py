"""Check the docs pages offline, the way a reader would see them.

Quarto (which builds the real site on GitHub) is not installable here, so this script:
1. processes the notebooks with the real `nbdev-proc-nbs` (a stand-in `quarto` on PATH stops nbdev from trying to
   install Quarto; processing itself never calls it);
2. renders every processed page to HTML with nbconvert, mermaid diagrams included (mermaid.js from npm when available);
3. opens each page in headless Chromium, takes a screenshot, and reads back what the browser saw;
4. fails on a page with an error output, a broken image, a mermaid diagram that did not render, an empty API section,
   or an internal link (a relative `*.html` link, or one to the docs site of pyproject.toml's [project.urls]) to a page
   the site does not have. nbdev names each page from its notebook's file name (`nbpath2html`: the number prefix goes,
   `00_why.ipynb` -> `why.html`, `06a_main.ipynb` -> `main.html`) and writes it as the page's `output-file`.

Usage: python tests/check_pages.py [--out screenshots]
"""
import argparse, json, os, re, shutil, subprocess, sys, tempfile, tomllib
from pathlib import Path

import nbformat, yaml
from nbconvert import HTMLExporter
from nbconvert.preprocessors import TagRemovePreprocessor

ROOT = Path(__file__).resolve().parents[1]
BROWSERS = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']
MERMAID_JS = ROOT/'.cache'/'mermaid'/'node_modules'/'mermaid'/'dist'/'mermaid.min.js'
DOC_URL = tomllib.loads((ROOT/'pyproject.toml').read_text())['project']['urls']['Documentation'].rstrip('/') + '/'

def find_browser():
    "Path of a Chromium-like browser, or a clear error saying how to get one."
    for b in BROWSERS:
        if p := shutil.which(b): return p
    sys.exit("check_pages: no Chromium found. Install it (Debian: `apt-get install chromium`) and rerun.")

def proc_nbs():
    "Run `nbdev-proc-nbs` and return the folder of processed notebooks."
    shim = Path(tempfile.mkdtemp())/'quarto'
    shim.write_text('#!/bin/sh\necho "quarto is not available on this machine" >&2\nexit 1\n')
    shim.chmod(0o755)
    bindir = Path(sys.executable).parent
    env = {**os.environ, 'PATH': f"{shim.parent}{os.pathsep}{bindir}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run([str(bindir/'nbdev-proc-nbs')], cwd=ROOT, env=env, check=True)
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
    "The page a processed notebook becomes: its front matter's `output-file`, as nbdev set it, else nbdev's rule."
    from nbdev.config import nbpath2html
    for c in nb.cells:
        m = re.search(r'^output-file:\s*(\S+)', c.source, re.M) if c.cell_type == 'raw' else None
        if m: return m.group(1).strip('"\'')
    return nbpath2html(Path(path)).name

LINK_RE = re.compile(r'\]\(\s*<?([^)\s>]+)|href\s*=\s*["\']([^"\']+)["\']')

def internal_links(text) -> list:
    "Pages that markdown or HTML `text` links to on this site (relative `*.html` links and links to `DOC_URL`)."
    res = []
    for m in LINK_RE.finditer(text or ''):
        url = re.split(r'[#?]', m.group(1) or m.group(2))[0]
        base = next((b for b in (DOC_URL, DOC_URL.replace('https://', 'http://')) if url.startswith(b) or url == b[:-1]), None)
        if base: url = url[len(base):]
        elif re.match(r'^[a-zA-Z][\w+.-]*:|^//', url) or not url.endswith('.html'): continue  # another site, or no page
        url = re.sub(r'^(\./)+', '', url)
        if url.endswith('.html.md'): url = url[:-3]  # the markdown twin of a page
        res.append(url + 'index.html' if url == '' or url.endswith('/') else url)
    return res

def link_problems(nb, pages) -> list:
    "Internal links in a processed notebook's markdown and outputs to pages not among `pages`."
    texts = [c.source for c in nb.cells if c.cell_type == 'markdown']
    texts += [v if isinstance(v, str) else ''.join(v) for c in nb.cells for o in c.get('outputs', [])
              for k, v in o.get('data', {}).items() if k in ('text/markdown', 'text/html')]
    bad = sorted({l for t in texts for l in internal_links(t) if l not in pages})
    return [f'link to a page the site does not have: {l}' for l in bad]

def notebook_problems(nb, pages=None):
    "Error outputs, empty API entries and (given the site's `pages`) links to missing pages in a processed notebook."
    probs = []
    for c in nb.cells:
        for o in c.get('outputs', []):
            if o.get('output_type') == 'error': probs.append(f"error output: {o.get('ename')}: {o.get('evalue')}"[:200])
            if o.get('output_type') == 'stream' and 'Traceback (most recent call last)' in o.get('text', ''):
                probs.append('a traceback printed in an output')
    probs += [f'empty API entry: {n}' for n, ok in api_names(nb).items() if not ok]
    if pages is not None: probs += link_problems(nb, pages)
    return probs

CHECK_JS = """<script>
window.addEventListener('load', async () => {
  if (window.mermaid) { try { await mermaid.run({querySelector: '.mermaid'}); } catch (e) {} }
  const bad = [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => (i.getAttribute('src')||'').slice(0, 60));
  const merm = [...document.querySelectorAll('.mermaid')];
  const unrendered = merm.filter(d => !d.querySelector('svg') || d.textContent.includes('Syntax error')).length;
  const r = {images: document.images.length, broken: bad, mermaid: merm.length, mermaid_failed: unrendered,
             text: document.body.innerText.length};
  document.body.setAttribute('data-check', JSON.stringify(r));
});
</script>"""

def front_matter(src):
    "Title and description from a Quarto front-matter block, as the page heading Quarto would show."
    meta = yaml.safe_load(src.strip().strip('-')) or {}
    return f"# {meta.get('title', '')}\n\n*{meta.get('description', '')}*"

def to_html(nb, mjs):
    "HTML page for a processed notebook, shown roughly as Quarto shows it."
    for c in nb.cells:
        for k in set(c) - {'cell_type', 'source', 'metadata', 'outputs', 'execution_count', 'id', 'attachments'}:
            del c[k]  # nbdev's processing marks (such as `has_sd`) that nbformat's schema rejects
        c.metadata.pop('execution', None)
        if c.cell_type == 'raw' and c.source.startswith('---'): c.cell_type, c.source = 'markdown', front_matter(c.source)
        if c.cell_type == 'markdown':
            c.source = re.sub(r'```\{mermaid\}\n(.*?)```', lambda m: f'<div class="mermaid">\n{m.group(1)}</div>', c.source, flags=re.S)
        if c.cell_type == 'code' and re.search(r'^#\|\s*echo:\s*false', c.source, flags=re.M):
            c.metadata.setdefault('tags', []).append('remove_input')
        for o in c.get('outputs', []):  # Quarto link attributes that plain markdown would print
            if 'text/markdown' in o.get('data', {}): o['data']['text/markdown'] = re.sub(r'\{target=[^}]*\}', '', o['data']['text/markdown'])
    exp = HTMLExporter(template_name='lab')
    exp.register_preprocessor(TagRemovePreprocessor(remove_input_tags={'remove_input'}), enabled=True)
    html, _ = exp.from_notebook_node(nb)
    head = (f'<script>{mjs}</script><script>mermaid.initialize({{startOnLoad:false}});</script>' if mjs else '') + CHECK_JS
    return html.replace('</head>', head + '</head>', 1)

def browse(browser, html_path, png_path):
    "Screenshot `html_path` and return what the page reported about itself."
    flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--hide-scrollbars',
             '--disable-background-networking', '--disable-component-update', '--disable-sync',
             '--virtual-time-budget=8000', f'--user-data-dir={tempfile.mkdtemp()}']
    url = html_path.resolve().as_uri()
    dom = subprocess.run([browser, *flags, '--dump-dom', url], capture_output=True, text=True, timeout=120).stdout
    subprocess.run([browser, *flags, '--window-size=1200,1800', f'--screenshot={png_path.resolve()}', url],
                   capture_output=True, timeout=120)
    m = re.search(r'data-check="([^"]*)"', dom)
    if not m: return {'error': 'the page never finished loading'}
    return json.loads(m.group(1).replace('&quot;', '"').replace('&amp;', '&'))

def main(out='screenshots'):
    browser, out = find_browser(), ROOT/out
    proc = proc_nbs()
    out.mkdir(exist_ok=True)
    for d in proc.iterdir():  # pictures a page links to (nbs/images/...) sit beside the pages, as on the site
        if d.is_dir() and not d.name.startswith(('.', '_')): shutil.copytree(d, out/d.name, dirs_exist_ok=True)
    mjs = mermaid_js()
    failed = 0
    nbs = {f: nbformat.read(f, as_version=4) for f in sorted(proc.glob('*.ipynb'))}
    pages = {page_name(nb, f) for f, nb in nbs.items()}
    for f, nb in nbs.items():
        probs = notebook_problems(nb, pages)
        html = out/f'{f.stem}.html'
        html.write_text(to_html(nb, mjs))
        r = browse(browser, html, out/f'{f.stem}.png')
        if 'error' in r: probs.append(r['error'])
        else:
            probs += [f'broken image: {s}' for s in r['broken']]
            if r['mermaid_failed'] and mjs: probs.append(f"{r['mermaid_failed']} mermaid diagram(s) did not render")
            if r['text'] < 200: probs.append('the page is almost empty')
        api = api_names(nb)
        print(f"{f.stem:24} images={r.get('images', '?'):<3} mermaid={r.get('mermaid', '?'):<2} api={len(api):<3} "
              f"{'OK' if not probs else 'FAIL: ' + '; '.join(probs)}")
        failed += bool(probs)
    print(f"{len(list(proc.glob('*.ipynb'))) - failed} passed, {failed} failed")
    return failed

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out', default='screenshots', help='folder for the HTML pages and screenshots')
    sys.exit(1 if main(p.parse_args().out) else 0)
