"""Learners run these notebooks in JupyterLab, Kaggle or Colab, outside this repository: run them through a real Jupyter
kernel (nbclient + ipykernel, as JupyterLab does), widgets included, from a copy in a folder outside the checkout."""
import json, re, shutil
from pathlib import Path

import nbformat, pytest
from nbclient import NotebookClient
from fastbird.fetch import data_root

NBS = Path(__file__).resolve().parents[1]/'nbs'
LESSON = sorted(p.name for p in NBS.glob('0*.ipynb') if p.name!='06a_main.ipynb')
SKIP = re.compile(r'^#\|\s*(slow|network|notest)\b|^#\|\s*eval:\s*false', re.M)
WIDGET = 'application/vnd.jupyter.widget-view+json'

def run_in_kernel(path, cwd):
    "Execute the notebook at `path` in a fresh python3 kernel started in `cwd`, leaving out the cells `nbdev-test` leaves out."
    nb = nbformat.read(path, as_version=4)
    nb.cells = [c for c in nb.cells if not (c.cell_type == 'code' and SKIP.search(c.source))]
    NotebookClient(nb, timeout=600, kernel_name='python3', store_widget_state=True,
                   resources={'metadata': {'path': str(cwd)}}).execute()
    return nb

@pytest.mark.parametrize('name', ['04b_learner.ipynb', '04c_homework.ipynb'])
def test_notebook_outside_the_repository(name, tmp_path, monkeypatch):
    "A copy of the notebook, alone in a folder outside the checkout, with the photos named by FASTBIRD_DATA."
    monkeypatch.setenv('FASTBIRD_DATA', str(data_root()))
    shutil.copy(NBS/name, tmp_path/name)
    nb = run_in_kernel(tmp_path/name, tmp_path)
    errors = [o for c in nb.cells for o in c.get('outputs', []) if o.output_type == 'error']
    assert not errors, errors
    shown = [o['data'][WIDGET]['model_id'] for c in nb.cells for o in c.get('outputs', []) if WIDGET in o.get('data', {})]
    if name == '04b_learner.ipynb':
        state = nb.metadata.widgets['application/vnd.jupyter.widget-state+json']['state']
        assert shown and all(m in state for m in shown), 'every widget shown has its state saved, as JupyterLab would render it'
        assert any(s['model_name'] == 'FileUploadModel' for s in state.values()), 'the "is it a bird?" upload widget is there'

@pytest.mark.parametrize('name', LESSON)
def test_first_code_cell_installs_fastbird(name):
    "Opened outside the repository, a notebook's first code cell installs fastbird if it isn't importable."
    first = next(c for c in nbformat.read(NBS/name, as_version=4).cells if c.cell_type == 'code')
    assert "find_spec('fastbird') is None" in first.source and "'pip', 'install'" in first.source

@pytest.mark.parametrize('name', LESSON)
def test_no_repository_paths(name):
    "Nothing in a notebook's code reaches into the checkout: no relative paths up to the project or its folders."
    code = '\n'.join(c.source for c in nbformat.read(NBS/name, as_version=4).cells if c.cell_type == 'code')
    assert not re.search(r"['\"](\.\./|nbs/|fastbird/|tests/)", code)
