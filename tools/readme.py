"""Write README.md from nbs/index.ipynb, as `nbdev-readme` would (it needs Quarto, which is not installable here).

Hidden cells (`#| hide`) are left out; code cells keep their text outputs. Links to other notebooks
(`lesson/04_learner.ipynb`) become links to their pages on the docs site named in pyproject.toml's `[project.urls]
Documentation` (`.../lesson/learner.html`, nbdev's name for the page), so they work on PyPI too.
Usage: python tools/readme.py [--check]
"""
import re, sys, tomllib
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]

def docs_url() -> str:
    "The docs site's address, from the one repository setting in pyproject.toml."
    return tomllib.loads((ROOT/'pyproject.toml').read_text())['project']['urls']['Documentation'].rstrip('/') + '/'

def absolute_links(md:str) -> str:
    "`md` with relative links to notebooks, `[text](lesson/04_learner.ipynb)`, pointing at their pages on the docs site."
    from nbdev.config import nbpath2html
    return re.sub(r'\]\(([\w/.-]+)\.ipynb(#[\w-]*)?\)',
                  lambda m: f']({docs_url()}{nbpath2html(m.group(1) + ".ipynb").as_posix()}{m.group(2) or ""})', md)

def readme_text(nb_path=ROOT/'nbs'/'index.ipynb'):
    "README.md's text for the notebook at `nb_path`."
    nb, parts = nbformat.read(nb_path, as_version=4), []
    for c in nb.cells:
        src = c.source.strip()
        if re.search(r'^#\|\s*(hide|export)', src, re.M): continue
        if c.cell_type == 'markdown': parts.append(absolute_links(src))
        elif c.cell_type == 'code':
            parts.append(f'```python\n{src}\n```')
            # text a reader would see: printed streams and results, not the plain-text stand-ins of HTML displays (progress bars)
            outs = [o.get('text') or o.get('data', {}).get('text/plain', '') for o in c.get('outputs', []) if o.get('output_type') != 'display_data']
            if any(outs): parts.append('```\n' + ''.join(outs).rstrip() + '\n```')
    return '<!-- Generated from nbs/index.ipynb by tools/readme.py: edit the notebook, not this file. -->\n\n' + '\n\n'.join(parts) + '\n'

if __name__ == '__main__':
    text, readme = readme_text(), ROOT/'README.md'
    if '--check' in sys.argv: sys.exit(0 if readme.exists() and readme.read_text() == text else 'README.md is out of date: run python tools/readme.py')
    readme.write_text(text)
