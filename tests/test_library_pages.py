"""The library's pages run in place, as `nbdev-test` runs them (execnb, in the notebook's folder, `IN_TEST` set, the
flagged cells left out), on the photos `FASTBIRD_DATA` names; their saved outputs must still be what the code prints
(tests/saved.py says which outputs are compared)."""
import shutil, tomllib, uuid
from pathlib import Path

import nbformat, pytest
from saved import missing, stale

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = sorted(p.name for p in (ROOT/'nbs'/'library').glob('[!.]*.ipynb'))
FLAGS = tomllib.loads((ROOT/'pyproject.toml').read_text())['tool']['nbdev']['tst_flags'].split()

def run_in_place(nb_path:Path):
    "Run the notebook at `nb_path` as nbdev-test does, on a hidden copy beside it; the executed notebook."
    from nbdev.test import test_nb
    tmp = nb_path.with_name(f'.{nb_path.stem}-{uuid.uuid4().hex[:6]}.ipynb')  # nbdev and git ignore dot-files here
    shutil.copy(nb_path, tmp)
    try:
        ok, _ = test_nb(tmp, skip_flags=FLAGS, save=True)
        assert ok, f'{nb_path.name} failed: its error is printed above'
        return nbformat.read(tmp, as_version=4)
    finally: tmp.unlink(missing_ok=True)

@pytest.mark.parametrize('name', LIBRARY)
def test_library_page(name):
    path = ROOT/'nbs'/'library'/name
    saved = nbformat.read(path, as_version=4)
    assert not missing(saved), f'{name}: cells that show a value but have no saved output: {missing(saved)}'
    fresh = run_in_place(path)
    changed = stale(saved, fresh)
    assert not changed, f'{name}: saved outputs the code no longer prints (save the page again, or tag the cell `varies`): ' + \
        '; '.join(f'cell {i}: saved {was[:200]!r}, now {now[:200]!r}' for i, was, now in changed)
