"""The library's pages run in place, as `nbdev-test` runs them (execnb, in the notebook's folder, `IN_TEST` set, the
flagged cells left out), on the photos `FASTBIRD_DATA` names; their saved outputs must still be what the code prints
(tests/saved.py says which outputs are compared)."""
from pathlib import Path

import nbformat, pytest
from elsewhere import run_in_place
from saved import missing, stale

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = sorted(p.name for p in (ROOT/'nbs'/'library').glob('[!.]*.ipynb'))

@pytest.mark.parametrize('name', LIBRARY)
def test_library_page(name):
    path = ROOT/'nbs'/'library'/name
    saved = nbformat.read(path, as_version=4)
    assert not missing(saved), f'{name}: cells that show a value but have no saved output: {missing(saved)}'
    fresh = run_in_place(path)
    changed = stale(saved, fresh)
    assert not changed, f'{name}: saved outputs the code no longer prints (save the page again, or tag the cell `varies`): ' + \
        '; '.join(f'cell {i}: saved {was[:200]!r}, now {now[:200]!r}' for i, was, now in changed)
