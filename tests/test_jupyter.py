"""Learners run these notebooks in JupyterLab: run them through a real Jupyter kernel (nbclient + ipykernel), as
JupyterLab does, widgets included, not only through nbdev-test's in-process shell."""
import re
from pathlib import Path

import nbformat, pytest
from nbclient import NotebookClient

NBS = Path(__file__).resolve().parents[1]/'nbs'
SKIP = re.compile(r'^#\|\s*(slow|network|notest)\b|^#\|\s*eval:\s*false', re.M)
WIDGET = 'application/vnd.jupyter.widget-view+json'

def run_in_kernel(path):
    "Execute the notebook at `path` in a fresh python3 kernel, leaving out the cells `nbdev-test` leaves out by default."
    nb = nbformat.read(path, as_version=4)
    nb.cells = [c for c in nb.cells if not (c.cell_type == 'code' and SKIP.search(c.source))]
    NotebookClient(nb, timeout=600, kernel_name='python3', store_widget_state=True,
                   resources={'metadata': {'path': str(path.parent)}}).execute()
    return nb

@pytest.mark.parametrize('name', ['04b_learner.ipynb'])
def test_notebook_in_jupyter_kernel(name):
    nb = run_in_kernel(NBS/name)
    errors = [o for c in nb.cells for o in c.get('outputs', []) if o.output_type == 'error']
    assert not errors, errors
    shown = [o['data'][WIDGET]['model_id'] for c in nb.cells for o in c.get('outputs', []) if WIDGET in o.get('data', {})]
    state = nb.metadata.widgets['application/vnd.jupyter.widget-state+json']['state']
    assert shown and all(m in state for m in shown), 'every widget shown has its state saved, as JupyterLab would render it'
    assert any(s['model_name'] == 'FileUploadModel' for s in state.values()), 'the "is it a bird?" upload widget is there'
