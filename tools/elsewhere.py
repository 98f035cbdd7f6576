"""Run a lesson notebook where learners run it: copied alone into an empty folder outside the checkout, executed by a
real Jupyter kernel (nbclient + ipykernel, as JupyterLab does), with `FASTBIRD_DATA` naming photo folders that are not
the course copy (other subsets of it: other photos, other counts).

Cells flagged with one of `[tool.nbdev] tst_flags` (slow, network, notest) are left out, as `nbdev-test` leaves them
out. A cell tagged `raises-exception` may stop with an error (the first web cell, offline) and the run goes on.

Usage: python tools/elsewhere.py nbs/02_datablock.ipynb [more notebooks] [--keep DIR]
"""
import argparse, os, re, shutil, sys, tempfile, time, tomllib
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
FLAGS = tomllib.loads((ROOT/'pyproject.toml').read_text())['tool']['nbdev']['tst_flags'].split()
SKIP = re.compile(r'^#\|\s*(' + '|'.join(FLAGS) + r')\b|^#\|\s*eval:\s*false', re.M)
# Other subsets of the course photos (or of freshly fetched ones, on GitHub): each label keeps other photos and another
# count, whatever the count it starts from: every other photo, all but the first fifth, the middle three quarters, every third.
SUBSETS = {'birds': {'bird': lambda fs: fs[::2], 'forest': lambda fs: fs[len(fs)//5:]},
           'pets': {'cat': lambda fs: fs[len(fs)//8:len(fs)-len(fs)//8], 'dog': lambda fs: fs[::3]}}

def lesson_notebooks() -> list:
    "The lesson notebooks a learner opens: every numbered notebook but the `python -m fastbird` stub."
    return sorted(p.name for p in NBS.glob('0*.ipynb') if p.name != '06a_main.ipynb')

def other_photos(dest:Path) -> Path:
    "Make `dest/birds/{bird,forest}` and `dest/pets/{cat,dog}` from other subsets of the course photos; returns `dest`."
    from fastai.vision.all import get_image_files
    from fastbird.data import lesson_data
    for name, labels in SUBSETS.items():
        src = lesson_data(name)
        for label, part in labels.items():
            d = Path(dest)/name/label
            d.mkdir(parents=True, exist_ok=True)
            for f in part(sorted(get_image_files(src/label))): shutil.copy(f, d/f.name)
    return Path(dest)

def run_elsewhere(name, data:Path, workdir:Path, timeout:int=900, kernel_name:str='python3', **kw):
    "Copy notebook `name` (in nbs/, or a path) alone into `workdir` and run it there with `FASTBIRD_DATA=data`; returns the executed notebook."
    workdir, src = Path(workdir), NBS/name if not Path(name).is_absolute() else Path(name)
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, workdir/src.name)
    nb = nbformat.read(workdir/src.name, as_version=4)
    nb.cells = [c for c in nb.cells if not (c.cell_type == 'code' and SKIP.search(c.source))]
    old = os.environ.get('FASTBIRD_DATA')
    os.environ['FASTBIRD_DATA'] = str(data)
    try:
        NotebookClient(nb, timeout=timeout, kernel_name=kernel_name, store_widget_state=True,
                       resources={'metadata': {'path': str(workdir)}}, **kw).execute()
    finally:
        if old is None: os.environ.pop('FASTBIRD_DATA', None)
        else: os.environ['FASTBIRD_DATA'] = old
    return nb

def errors(nb) -> list:
    "(cell index, error output) for every error in an executed notebook."
    return [(i, o) for i, c in enumerate(nb.cells) for o in c.get('outputs', []) if o.output_type == 'error']

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('notebooks', nargs='*', help='notebooks to run (default: every lesson notebook)')
    p.add_argument('--keep', help='run in this folder and keep it (default: a temporary folder, removed after)')
    args = p.parse_args()
    top = Path(args.keep or tempfile.mkdtemp(prefix='fastbird-elsewhere-'))
    data = other_photos(top/'photos')
    print(f"photos: {', '.join(f'{d.parent.name}/{d.name} {len(list(d.iterdir()))}' for d in sorted(data.glob('*/*')))}")
    failed = 0
    for n in [Path(o).name for o in args.notebooks] or lesson_notebooks():
        start = time.time()
        try:
            nb = run_elsewhere(n, data, top/Path(n).stem)
            errs = errors(nb)
            print(f"{n}: ok in {time.time()-start:.0f}s" + (f" ({len(errs)} allowed error(s): {[o.evalue for _,o in errs]})" if errs else ''))
        except Exception as e:
            failed += 1
            print(f"{n}: FAILED after {time.time()-start:.0f}s\n{e}", file=sys.stderr)
    if not args.keep: shutil.rmtree(top, ignore_errors=True)
    sys.exit(1 if failed else 0)
