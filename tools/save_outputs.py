"""Run notebooks on the course photos and save their outputs for the docs pages, as the tests will run them.

- Lesson and going-further pages run as learners run them (tests/elsewhere.py): copied alone into an empty temporary
  folder, executed by a real Jupyter kernel, so fastai's progress table is saved as the table a reader sees (not as
  bar fragments) and files the page writes (model folders) stay out of the checkout and out of its outputs. A cell
  tagged `raises-exception` (the first web cell) depends on the machine's connection: it is saved without outputs.
- Library pages and the home page run in place, as `nbdev-test` runs them (execnb), on a hidden copy.

Cells flagged slow, network or notest are not run and keep the outputs they had. The test suite then checks that the
saved text outputs are still what the code prints (tests/saved.py).

Usage: python tools/save_outputs.py nbs/lesson/04_learner.ipynb [more notebooks]; then run nbdev-clean.
"""
import sys, tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tests'))
from elsewhere import NBS, PAGES, SKIP, errors, run_elsewhere, run_in_place  # noqa: E402

def run_page(path:Path):
    "Run a lesson or going-further page on the course photos, outside the checkout; the executed notebook."
    from fastbird.data import data_root
    with tempfile.TemporaryDirectory(prefix='fastbird-save-') as tmp:
        ran = run_elsewhere(path, data_root(), Path(tmp))
    may_stop = lambda c: 'raises-exception' in c.metadata.get('tags', [])
    if errs := [(i, o) for i, o in errors(ran) if not may_stop(ran.cells[i])]:
        sys.exit(f"{path.name}: error outputs, not saved: {[(i, o.ename, o.evalue) for i, o in errs]}")
    for c in ran.cells:
        if may_stop(c): c.outputs = []
    return ran

def save_outputs(path:Path):
    "Execute the notebook at `path` and write the outputs of the cells that ran back into it."
    path = Path(path).resolve()
    page = path.relative_to(NBS).parts[0] in PAGES
    nb = nbformat.read(path, as_version=4)
    if nb.metadata.pop('widgets', None) is not None: nbformat.write(nb, path)  # the state of an earlier run's widgets goes
    try: ran = run_page(path) if page else run_in_place(path)
    except RuntimeError as e: sys.exit(f'{e}; not saved')
    nb, done = nbformat.read(path, as_version=4), {c.id: c for c in ran.cells}
    for c in nb.cells:
        if c.cell_type == 'code' and c.id in done and not SKIP.search(c.source): c.outputs, c.execution_count = done[c.id].outputs, None
    if 'widgets' in ran.metadata: nb.metadata['widgets'] = ran.metadata['widgets']  # the widgets shown now
    nbformat.write(nb, path)

if __name__ == '__main__':
    for n in sys.argv[1:]: save_outputs(Path(n)); print(f"saved {n}")
