"""Saved outputs are what the docs pages and the README show: no local paths, no `<ipython-input-N-...>` prefixes, no
error outputs and no tracebacks in them. One test per notebook, so a failure names the notebook."""
import re
from pathlib import Path

import nbformat, pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.relative_to(ROOT/'nbs').as_posix() for p in (ROOT/'nbs').rglob('*.ipynb')
                   if not any(s.startswith('.') for s in p.relative_to(ROOT/'nbs').parts))
BAD = {'a local path': re.compile(r'/work/|/home/|/root/|/tmp/|site-packages|\.venv/'),
       'an <ipython-input-N> prefix': re.compile(r'<ipython-input-'),
       'a traceback': re.compile(r'Traceback \(most recent call last\)')}

def output_texts(o):
    "The text of one saved output, every text MIME type of it (images aside)."
    if o.output_type == 'stream': yield o.get('text', '')
    elif o.output_type == 'error': yield '\n'.join([f"{o.get('ename')}: {o.get('evalue')}", *o.get('traceback', [])])
    else:
        for mime, v in o.get('data', {}).items():
            if mime.startswith('text/') or mime.endswith(('+json', '/json')): yield v if isinstance(v, str) else str(v)

def problems(nb) -> list:
    "(cell index, what is wrong, the offending line) for each problem in a notebook's saved outputs."
    res = []
    for i, c in enumerate(nb.cells):
        for o in c.get('outputs', []):
            if o.output_type == 'error': res.append((i, 'an error output', f"{o.get('ename')}: {o.get('evalue')}"[:160]))
            for text in output_texts(o):
                for what, r in BAD.items():
                    for line in text.splitlines():
                        if r.search(line): res.append((i, what, line.strip()[:160])); break
    return res

def readme_problems(text) -> list:
    return [(n, what, line.strip()[:160]) for n, line in enumerate(text.splitlines(), 1)
            for what, r in BAD.items() if r.search(line)]

def test_catches_what_it_claims():
    from nbformat.v4 import new_notebook, new_code_cell, new_output
    nb = new_notebook(cells=[
        new_code_cell('a', outputs=[new_output('stream', name='stderr', text='/work/main/.venv/lib/python3.11/site-packages/x.py:3: Warn\n')]),
        new_code_cell('b', outputs=[new_output('error', ename='KeyError', evalue="'x'", traceback=['KeyError'])]),
        new_code_cell('c', outputs=[new_output('stream', name='stdout', text='File <ipython-input-3-abc>, line 1\n')]),
        new_code_cell('d', outputs=[new_output('execute_result', data={'text/plain': 'Traceback (most recent call last):'})]),
        new_code_cell('e', outputs=[new_output('display_data', data={'text/html': '<p>saved to /tmp/x/model</p>'})]),
        new_code_cell('f', outputs=[new_output('stream', name='stdout', text='bird: 0.99\n')])])
    got = {(i, what) for i, what, _ in problems(nb)}
    assert got == {(0, 'a local path'), (1, 'an error output'), (2, 'an <ipython-input-N> prefix'), (3, 'a traceback'),
                   (4, 'a local path')}
    assert readme_problems('ok\nsaved in /home/me/model\n') == [(2, 'a local path', 'saved in /home/me/model')]

@pytest.mark.parametrize('name', NOTEBOOKS)
def test_saved_outputs_are_clean(name):
    probs = problems(nbformat.read(ROOT/'nbs'/name, as_version=4))
    assert not probs, f'{name}: ' + '; '.join(f'cell {i}: {what}: {line}' for i, what, line in probs)

def test_readme_is_clean():
    probs = readme_problems((ROOT/'README.md').read_text())
    assert not probs, 'README.md: ' + '; '.join(f'line {n}: {what}: {line}' for n, what, line in probs)
