"""Run notebooks in a real Jupyter kernel on the course photos and save their outputs for the docs pages.

`nbdev-test --save` runs notebooks in execnb, where fastai's progress bars come out as lines of bar fragments; a real
kernel (as JupyterLab runs it) records fastai's progress table as the HTML a reader expects. Each notebook runs in an
empty temporary folder, so files it writes (model folders) stay out of the checkout and out of its outputs. Cells
flagged slow, network or notest are not run and keep the outputs they had. A cell tagged `raises-exception` (the first
web cell) depends on the machine's connection: it is saved without outputs.

Usage: python tools/save_outputs.py nbs/04c_learner.ipynb [more notebooks]; then run nbdev-clean.
"""
import sys, tempfile
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).parent))
from elsewhere import NBS, errors, run_elsewhere

def save_outputs(name:str):
    "Execute nbs/`name` on the course photos (`data_root()`) and write its outputs back into it."
    from fastbird.data import data_root
    with tempfile.TemporaryDirectory(prefix='fastbird-save-') as tmp:
        ran = run_elsewhere(name, data_root(), Path(tmp))
    may_stop = lambda c: 'raises-exception' in c.metadata.get('tags', [])
    if errs := [(i, o) for i, o in errors(ran) if not may_stop(ran.cells[i])]:
        sys.exit(f"{name}: error outputs, not saved: {[(i, o.ename, o.evalue) for i, o in errs]}")
    nb, done = nbformat.read(NBS/name, as_version=4), {c.id: c for c in ran.cells}
    for c in nb.cells:
        if c.cell_type == 'code' and c.id in done: c.outputs, c.execution_count = ([] if may_stop(c) else done[c.id].outputs), None
    if 'widgets' in ran.metadata: nb.metadata['widgets'] = ran.metadata['widgets']
    nbformat.write(nb, NBS/name)

if __name__ == '__main__':
    for n in sys.argv[1:]: save_outputs(Path(n).name); print(f"saved {n}")
