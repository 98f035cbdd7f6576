"""The cells every lesson and going-further notebook opens with, written from the one repository setting.

- the badges: "Open in Kaggle" and "Open in Colab" for this notebook, from pyproject.toml's `[project.urls] Repository`
  and `[tool.nbdev] branch`;
- the install cell: where fastbird or one of the lesson's libraries is not installed, it checks the connection to PyPI
  first, and offline stops with one line saying what to do (no traceback); online it runs pip. It imports nothing, so
  it runs in a moment and prints no library's import-time notices.

Usage: python tools/lesson_cells.py [--check]   (writes the cells into nbs/lesson/*.ipynb and nbs/further/*.ipynb)
"""
import sys, tomllib
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
PAGES = ('lesson', 'further')  # the folders whose notebooks learners open on Kaggle and Colab
CFG = tomllib.loads((ROOT/'pyproject.toml').read_text())
REPO = CFG['project']['urls']['Repository'].rstrip('/')  # https://github.com/OWNER/NAME
BRANCH = CFG['tool']['nbdev'].get('branch', 'main')
KAGGLE_SVG = 'https://kaggle.com/static/images/open-in-kaggle.svg'
COLAB_SVG = 'https://colab.research.google.com/assets/colab-badge.svg'

def page_notebooks() -> list:
    "The lesson and going-further notebooks, in sidebar order."
    return [p for d in PAGES for p in sorted((NBS/d).glob('[!.]*.ipynb'))]

def badges(nb_path:Path) -> str:
    "Markdown for the two badges that open the notebook at `nb_path` (under nbs/) on Kaggle and on Colab."
    rel = Path(nb_path).resolve().relative_to(ROOT).as_posix()
    on_github = f'{REPO}/blob/{BRANCH}/{rel}'
    colab = 'https://colab.research.google.com/github/' + on_github.removeprefix('https://github.com/')
    kaggle = f'https://kaggle.com/kernels/welcome?src={on_github}'
    return f'[![Open in Kaggle]({KAGGLE_SVG})]({kaggle}) [![Open in Colab]({COLAB_SVG})]({colab})'

INSTALL = '''\
# Installs fastbird and the lesson's libraries where they are missing (Kaggle, Colab, a fresh JupyterLab); this needs
# internet. Where they are installed already, it does nothing.
import importlib.util, socket, subprocess, sys
class Offline(Exception):
    def _render_traceback_(self): return [str(self)]  # Jupyter shows this one line, no traceback
if not all(importlib.util.find_spec(m) for m in ('fastbird', 'fastai', 'timm', 'ddgs')):
    try: socket.create_connection(('pypi.org', 443), timeout=10).close()
    except OSError: raise Offline("No internet, so fastbird can't be installed: on Kaggle, switch 'Internet' on in "
                                  "the notebook's settings and run this cell again; elsewhere, pip install "
                                  "'fastbird[lesson]' where there is a connection.") from None
    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', 'fastbird[lesson]'], check=True)'''

def problems(nb_path:Path) -> list:
    "What differs from the canonical opening cells in the notebook at `nb_path`."
    nb = nbformat.read(nb_path, as_version=4)
    md = [c for c in nb.cells if c.cell_type == 'markdown']
    code = [c for c in nb.cells if c.cell_type == 'code']
    res = []
    if len(md) < 2 or md[1].source != badges(nb_path): res.append('the second markdown cell is not its badges')
    if not code or code[0].source != INSTALL: res.append('the first code cell is not the install cell')
    return res

def write(nb_path:Path):
    "Put the badges in the second markdown cell and the install cell first among the code cells."
    nb = nbformat.read(nb_path, as_version=4)
    md = [c for c in nb.cells if c.cell_type == 'markdown']
    code = [c for c in nb.cells if c.cell_type == 'code']
    md[1].source, code[0].source = badges(nb_path), INSTALL
    nbformat.write(nb, nb_path)

if __name__ == '__main__':
    if '--check' in sys.argv:
        bad = {p.relative_to(ROOT).as_posix(): problems(p) for p in page_notebooks() if problems(p)}
        sys.exit(f'run python tools/lesson_cells.py: {bad}' if bad else 0)
    for p in page_notebooks(): write(p)
