"""Write README.md from nbs/index.ipynb, as `nbdev-readme` would (it needs Quarto, which is not installable here).

Hidden cells (`#| hide`) are left out; code cells keep their text outputs. Usage: python tools/readme.py [--check]
"""
import re, sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]

def readme_text(nb_path=ROOT/'nbs'/'index.ipynb'):
    "README.md's text for the notebook at `nb_path`."
    nb, parts = nbformat.read(nb_path, as_version=4), []
    for c in nb.cells:
        src = c.source.strip()
        if re.search(r'^#\|\s*(hide|export)', src, re.M): continue
        if c.cell_type == 'markdown': parts.append(src)
        elif c.cell_type == 'code':
            parts.append(f'```python\n{src}\n```')
            outs = [o.get('text') or o.get('data', {}).get('text/plain', '') for o in c.get('outputs', [])]
            if any(outs): parts.append('```\n' + ''.join(outs).rstrip() + '\n```')
    return '<!-- Generated from nbs/index.ipynb by tools/readme.py: edit the notebook, not this file. -->\n\n' + '\n\n'.join(parts) + '\n'

if __name__ == '__main__':
    text, readme = readme_text(), ROOT/'README.md'
    if '--check' in sys.argv: sys.exit(0 if readme.exists() and readme.read_text() == text else 'README.md is out of date: run python tools/readme.py')
    readme.write_text(text)
