"""Learners run the lesson and going-further pages in JupyterLab, Kaggle or Colab, outside this repository, on photos
they fetched themselves. So each page is copied alone into an empty folder outside the checkout and run there by a real
Jupyter kernel (nbclient + ipykernel, widgets included), with FASTBIRD_DATA naming photo folders made for the test:
small subsets of the course photos, so other photos and other counts (tests/elsewhere.py), with the same flags as
nbdev-test: slow, network and notest cells are left out. The run also checks the saved outputs still match the code
(tests/saved.py)."""
import re, sys
from pathlib import Path

import nbformat, pytest
from nbclient.exceptions import CellExecutionError
from nbformat.v4 import new_code_cell, new_notebook
from fastai.vision.all import get_image_files
from fastbird.data import lesson_data

from elsewhere import NBS, SUBSETS, errors, lesson_notebooks, other_photos, run_elsewhere
from saved import missing, stale

WIDGET = 'application/vnd.jupyter.widget-view+json'
WIDGETS_NB = {'lesson/04_learner.ipynb': 'Cleaner(', 'lesson/06_homework.ipynb': 'bird_uploader('}  # pages that show widgets

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
    nb = new_notebook(cells=[new_code_cell("import os\nfrom pathlib import Path"),  # no fastai to import: a quick kernel
                             new_code_cell(f"assert len(list((Path(os.environ['FASTBIRD_DATA'])/'birds').rglob('*.jpg'))) == {course}")])
    nbformat.write(nb, tmp_path/'counts.ipynb')
    with pytest.raises(CellExecutionError, match='AssertionError'): run_elsewhere(tmp_path/'counts.ipynb', photos, tmp_path/'work')

def test_the_kernels_start_no_data_workers(photos, tmp_path):
    "The kernels load data in their own process (tests/elsewhere.py says why): fastai's worker count is 0 there."
    nb = new_notebook(cells=[new_code_cell("from fastcore.basics import defaults\nprint(defaults.cpus)")])
    nbformat.write(nb, tmp_path/'cpus.ipynb')
    ran = run_elsewhere(tmp_path/'cpus.ipynb', photos, tmp_path/'work')
    assert ran.cells[0].outputs[0].text.strip() == '0'

def test_the_widget_notebooks_are_lesson_notebooks():
    "Renaming them must not switch off their widget checks below."
    for name, call in WIDGETS_NB.items():
        assert name in lesson_notebooks()
        nb = nbformat.read(NBS/name, as_version=4)
        assert any(call in c.source and '#| export' not in c.source for c in nb.cells if c.cell_type == 'code'), (name, call)

@pytest.mark.parametrize('name', lesson_notebooks())
def test_notebook_runs_where_learners_are(name, photos, tmp_path):
    assert not tmp_path.is_relative_to(NBS.parent), 'outside the checkout'
    saved = nbformat.read(NBS/name, as_version=4)
    assert not missing(saved), f'{name}: cells that show a value but have no saved output: {missing(saved)}'
    nb = run_elsewhere(name, photos, tmp_path/'work')
    for i, o in errors(nb):  # only the first web cell may stop (offline), with one line that says what to do
        assert 'raises-exception' in nb.cells[i].metadata.get('tags', []), (i, o.ename, o.evalue)
        assert '\n' not in o.evalue.strip() and 'FASTBIRD_DATA' in o.evalue, o.evalue
    changed = stale(saved, nb)
    assert not changed, f'{name}: saved outputs the code no longer prints (save the page again, or tag the cell `varies`): ' + \
        '; '.join(f'cell {i}: saved {was[:200]!r}, now {now[:200]!r}' for i, was, now in changed)
    if name in WIDGETS_NB:
        shown = [o['data'][WIDGET]['model_id'] for c in nb.cells for o in c.get('outputs', []) if WIDGET in o.get('data', {})]
        state = nb.metadata.widgets['application/vnd.jupyter.widget-state+json']['state']
        assert shown and all(m in state for m in shown), 'every widget shown has its state saved, as JupyterLab would render it'

def test_the_stale_output_check_can_fail():
    "A changed message fails; a `varies` cell may change; a visible value with no saved output is missing."
    from nbformat.v4 import new_output
    saved = new_notebook(cells=[new_code_cell('print(msg)', outputs=[new_output('stream', name='stdout', text='old message\n')]),
                                new_code_cell('len(x)', outputs=[new_output('execute_result', data={'text/plain': '212'})]),
                                new_code_cell('y'), new_code_cell('#| hide\ny'), new_code_cell('z = 1')])
    saved.cells[1].metadata['tags'] = ['varies']
    fresh = nbformat.reads(nbformat.writes(saved), as_version=4)
    fresh.cells[0].outputs[0].text, fresh.cells[1].outputs[0].data['text/plain'] = 'new message\n', '47'
    assert [i for i, *_ in stale(saved, fresh)] == [saved.cells[0].id]
    assert missing(saved) == [saved.cells[2].id]

@pytest.mark.parametrize('name', lesson_notebooks())
def test_no_repository_paths(name):
    "Nothing in a notebook's code reaches into the checkout: no relative paths up to the project or its folders."
    code = '\n'.join(c.source for c in nbformat.read(NBS/name, as_version=4).cells if c.cell_type == 'code' and 'nbdev_export' not in c.source)
    assert not re.search(r"['\"](\.\./|nbs/|fastbird/|tests/)", code)
