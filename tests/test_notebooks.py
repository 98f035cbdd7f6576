"""Learners run the lesson notebooks in JupyterLab, Kaggle or Colab, outside this repository, on photos they fetched
themselves. So each lesson notebook is copied alone into an empty folder outside the checkout and run there by a real
Jupyter kernel (nbclient + ipykernel, widgets included), with FASTBIRD_DATA naming photo folders made for the test:
other subsets of the course photos, so other photos and other counts (tools/elsewhere.py). This run replaces
nbdev-test's in-place run of these notebooks, with the same flags: slow, network and notest cells are left out."""
import re, sys
from pathlib import Path

import nbformat, pytest
from nbclient.exceptions import CellExecutionError
from nbformat.v4 import new_code_cell, new_notebook
from fastai.vision.all import get_image_files
from fastbird.data import lesson_data

sys.path.insert(0, str(Path(__file__).resolve().parents[1]/'tools'))
from elsewhere import NBS, SUBSETS, errors, lesson_notebooks, other_photos, run_elsewhere

WIDGET = 'application/vnd.jupyter.widget-view+json'
WIDGETS_NB = '04d_clean.ipynb'  # the notebook that shows the Cleaner and the "is it a bird?" upload widget

@pytest.fixture(scope='session')
def photos(tmp_path_factory):
    "Photo folders laid out like the course's, with other photos and other counts."
    return other_photos(tmp_path_factory.mktemp('photos'))

def test_the_photos_are_not_the_course_copy(photos):
    for name, labels in SUBSETS.items():
        for label in labels:
            ours, course = get_image_files(photos/name/label), get_image_files(lesson_data(name)/label)
            assert 0 < len(ours) != len(course), (name, label, len(ours), len(course))

def test_a_course_count_fails_elsewhere(photos, tmp_path):
    "The run can fail: a notebook that asserts the course copy's count stops with an error on other photos."
    course = len(get_image_files(lesson_data('birds')))
    nb = new_notebook(cells=[new_code_cell("from fastbird.data import lesson_data\nfrom fastai.vision.all import get_image_files"),
                             new_code_cell(f"assert len(get_image_files(lesson_data('birds'))) == {course}")])
    nbformat.write(nb, tmp_path/'counts.ipynb')
    with pytest.raises(CellExecutionError, match='AssertionError'): run_elsewhere(tmp_path/'counts.ipynb', photos, tmp_path/'work')

def test_the_widget_notebook_is_a_lesson_notebook():
    "Renaming it must not switch off its widget checks below."
    assert WIDGETS_NB in lesson_notebooks()
    nb = nbformat.read(NBS/WIDGETS_NB, as_version=4)
    assert any('bird_uploader(' in c.source and '#| export' not in c.source for c in nb.cells if c.cell_type == 'code')

@pytest.mark.parametrize('name', lesson_notebooks())
def test_notebook_runs_where_learners_are(name, photos, tmp_path):
    assert not tmp_path.is_relative_to(NBS.parent), 'outside the checkout'
    nb = run_elsewhere(name, photos, tmp_path/'work')
    for i, o in errors(nb):  # only the first web cell may stop (offline), with one line that says what to do
        assert 'raises-exception' in nb.cells[i].metadata.get('tags', []), (i, o.ename, o.evalue)
        assert '\n' not in o.evalue.strip() and 'FASTBIRD_DATA' in o.evalue, o.evalue
    if name == WIDGETS_NB:
        shown = [o['data'][WIDGET]['model_id'] for c in nb.cells for o in c.get('outputs', []) if WIDGET in o.get('data', {})]
        state = nb.metadata.widgets['application/vnd.jupyter.widget-state+json']['state']
        assert shown and all(m in state for m in shown), 'every widget shown has its state saved, as JupyterLab would render it'
        assert any(s['model_name'] == 'FileUploadModel' for s in state.values()), 'the "is it a bird?" upload widget is there'

@pytest.mark.parametrize('name', lesson_notebooks())
def test_first_code_cell_installs_fastbird(name):
    "Opened outside the repository, a notebook's first code cell installs fastbird with the lesson's libraries from PyPI when they aren't importable, in plain sight."
    first = next(c for c in nbformat.read(NBS/name, as_version=4).cells if c.cell_type == 'code')
    assert "for m in ('fastbird', 'fastai', 'timm', 'ddgs')" in first.source and 'find_spec(m) is None' in first.source
    assert "'pip', 'install', '-q', 'fastbird[lesson]'" in first.source, first.source  # the core install alone can't run the lesson
    assert '#| hide' not in first.source

@pytest.mark.parametrize('name', lesson_notebooks())
def test_no_repository_paths(name):
    "Nothing in a notebook's code reaches into the checkout: no relative paths up to the project or its folders."
    code = '\n'.join(c.source for c in nbformat.read(NBS/name, as_version=4).cells if c.cell_type == 'code' and 'nbdev_export' not in c.source)
    assert not re.search(r"['\"](\.\./|nbs/|fastbird/|tests/)", code)
