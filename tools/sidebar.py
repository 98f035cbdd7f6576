"""Write nbs/sidebar.yml, the docs site's sidebar: the home page, then three sections, Lesson 1, Going further and
Library, each listing its folder's notebooks in order. `python -m fastbird`'s stub page is left off. pyproject.toml's
`custom_sidebar = true` keeps nbdev from writing its own over it.

Usage: python tools/sidebar.py [--check]
"""
import sys
from pathlib import Path
import yaml

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
SECTIONS = {'Lesson 1': 'lesson', 'Going further': 'further', 'Library': 'library'}
OFF = {'library/12_main.ipynb'}  # the `python -m fastbird` stub: a page, not in the sidebar

def sidebar() -> dict:
    "The sidebar, as nbdev's sidebar.yml holds it."
    contents = ['index.ipynb'] + [{'section': name, 'contents': [p.relative_to(NBS).as_posix() for p in sorted((NBS/d).glob('[!.]*.ipynb'))
                                                                 if p.relative_to(NBS).as_posix() not in OFF]}
                                  for name, d in SECTIONS.items()]
    return {'website': {'sidebar': {'contents': contents}}}

def text() -> str: return '# Written by tools/sidebar.py: edit that, not this file.\n' + yaml.safe_dump(sidebar(), sort_keys=False)

if __name__ == '__main__':
    f = NBS/'sidebar.yml'
    if '--check' in sys.argv: sys.exit(0 if f.exists() and f.read_text() == text() else 'nbs/sidebar.yml is out of date: run python tools/sidebar.py')
    f.write_text(text())
