"""Run a lesson or going-further page where learners run it: copied alone into an empty folder outside the checkout,
executed by a real Jupyter kernel (nbclient + ipykernel, as JupyterLab does), with `FASTBIRD_DATA` naming photo folders
that are not the course copy: small subsets of it (or of freshly fetched photos), with other photos and other counts.

Cells flagged with one of `[tool.nbdev] tst_flags` (notest, slow, network) are left out, as `nbdev-test` leaves them
out. A cell tagged `raises-exception` may stop with an error (the first web cell, offline) and the run goes on.

Usage: python tests/elsewhere.py nbs/lesson/02_datablock.ipynb [more notebooks] [--keep DIR]
"""
import argparse, os, re, shutil, sys, tempfile, time, uuid
from contextlib import contextmanager
from pathlib import Path
from unittest.mock import patch

import nbformat
from nbclient import NotebookClient
from nbdev.config import get_config

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
PAGES = ('lesson', 'further')  # the folders of pages learners open in Jupyter, Kaggle or Colab
FLAGS = get_config(ROOT).tst_flags.split()
SKIP = re.compile(r'^#\|\s*(' + '|'.join(FLAGS) + r')\b|^#\|\s*eval:\s*false', re.M)
# Small subsets of the course photos (or of photos fetched fresh, on GitHub): other photos and other counts than the
# course copy, as few as the pages allow (the lesson's batch of 32 needs 32 training photos: 41 photos a data set).
SUBSETS = {'birds': {'bird': lambda fs: fs[::2][:21], 'forest': lambda fs: fs[1::2][:20]},
           'pets': {'cat': lambda fs: fs[::2][:20], 'dog': lambda fs: fs[1::2][:21]}}

# glibc's malloc keeps the memory it freed in the kernels these tests start: training allocates and frees the same
# large activations every batch, and handing them back to the system each time costs page faults (measured here: the
# lesson's fine_tune(3) on 41 photos, one thread, 21 s by default, 12 s with these). Speed only: the pages compute the
# same; the memory a page's `measure` reports is what the process holds, and with these it holds on to more.
MALLOC = 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=17179869184:glibc.malloc.top_pad=1073741824'

# fastai's DataLoaders start `defaults.cpus` worker processes (2 here) each time a page iterates its data, forked from a
# kernel that holds torch: on 2 cores, with the other test worker busy, that costs more than the loading it shares out
# (measured here: fine_tune(3) on 41 photos, 23 s with workers, 12 s without). So the kernels these tests start load in
# their own process, as fastai itself does on macOS (and in notebooks on Windows): the page's code is unchanged, and
# the library pages and tests/ still run fastai's worker processes. An IPython startup file, run before the first cell.
IN_PROCESS = "from fastcore.basics import defaults\ndefaults.cpus = 0  # fastai's DataLoaders: no worker processes\n"

def lesson_notebooks() -> list:
    "The pages a learner opens, as paths relative to nbs/ (lesson/..., further/...), in sidebar order."
    return [p.relative_to(NBS).as_posix() for d in PAGES for p in sorted((NBS/d).glob('[!.]*.ipynb'))]

def other_photos(dest:Path) -> Path:
    "Make `dest/birds/{bird,forest}` and `dest/pets/{cat,dog}` from small subsets of the course photos; returns `dest`."
    from fastai.vision.all import get_image_files
    from fastbird.data import lesson_data
    for name, labels in SUBSETS.items():
        src = lesson_data(name)
        for label, part in labels.items():
            d = Path(dest)/name/label
            d.mkdir(parents=True, exist_ok=True)
            for f in part(sorted(get_image_files(src/label))): shutil.copy(f, d/f.name)
    return Path(dest)

@contextmanager
def environ(**env):
    "Set environment variables (None: unset) for the kernels started inside; `patch.dict` puts them all back after."
    with patch.dict(os.environ, {k: str(v) for k, v in env.items() if v is not None}):
        for k in [k for k, v in env.items() if v is None]: os.environ.pop(k, None)
        yield

def run_elsewhere(name, data:Path, workdir:Path, timeout:int=900, kernel_name:str='python3', env=None, **kw):
    "Copy page `name` (relative to nbs/, or a path) alone into `workdir` and run it there with `FASTBIRD_DATA=data`."
    workdir = Path(workdir)
    src = Path(name) if Path(name).is_absolute() else NBS/name
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, workdir/src.name)
    nb = nbformat.read(workdir/src.name, as_version=4)
    nb.cells = [c for c in nb.cells if not (c.cell_type == 'code' and SKIP.search(c.source))]
    home = workdir/'.home'  # no Hugging Face login and no search cache of this machine's user
    startup = home/'ipython'/'profile_default'/'startup'
    startup.mkdir(parents=True, exist_ok=True)
    (startup/'00-in-process.py').write_text(IN_PROCESS)
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"  # the environment's commands, as once activated
    with environ(FASTBIRD_DATA=data, IPYTHONDIR=home/'ipython', HF_HOME=home/'hf', HF_TOKEN=None,
                 FASTBIRD_CACHE=home/'cache', PATH=path,
                 GLIBC_TUNABLES=MALLOC, **(env or {})):
        # the kernel is stopped at once when the last cell is done: a graceful shutdown of a kernel that holds torch
        # waits about 2.5 s more here (measured), for nothing the page needs
        NotebookClient(nb, timeout=timeout, kernel_name=kernel_name, store_widget_state=True,
                       shutdown_kernel='immediate',
                       resources={'metadata': {'path': str(workdir)}}, **kw).execute()
    return nb

def run_in_place(nb_path:Path):
    "Run a library page as `nbdev-test` does (in its folder, `IN_TEST` set, flagged cells left out) on a hidden copy."
    from nbdev.test import test_nb
    tmp = nb_path.with_name(f'.{nb_path.stem}-{uuid.uuid4().hex[:6]}.ipynb')  # nbdev and git ignore dot-files here
    shutil.copy(nb_path, tmp)
    try:
        ok, _ = test_nb(tmp, skip_flags=FLAGS, save=True)
        if not ok: raise RuntimeError(f'{nb_path.name} failed: its error is printed above')
        return nbformat.read(tmp, as_version=4)
    finally: tmp.unlink(missing_ok=True)

def errors(nb) -> list:
    "(cell index, error output) for every error in an executed notebook."
    return [(i, o) for i, c in enumerate(nb.cells) for o in c.get('outputs', []) if o.output_type == 'error']

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('notebooks', nargs='*', help='notebooks to run (default: every lesson and going-further page)')
    p.add_argument('--keep', help='run in this folder and keep it (default: a temporary folder, removed after)')
    args = p.parse_args()
    top = Path(args.keep or tempfile.mkdtemp(prefix='fastbird-elsewhere-'))
    data = other_photos(top/'photos')
    print(f"photos: {', '.join(f'{d.parent.name}/{d.name} {len(list(d.iterdir()))}' for d in sorted(data.glob('*/*')))}")
    failed = 0
    names = [Path(o).resolve().relative_to(NBS).as_posix() for o in args.notebooks] or lesson_notebooks()
    for n in names:
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
