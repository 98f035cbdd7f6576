"""The two tracks (issue 19): Lesson 1 in short pages a learner can follow, the library behind it in its own section.
Short pages that run the lesson's code first, a sidebar with three sections, opening cells that work on Kaggle and
Colab, links that work on GitHub, Kaggle, Colab and the site, words explained where they first appear, light
notebooks, and prose that reads the outputs saved beside it."""
import ast, json, re, subprocess, sys
from pathlib import Path

import nbformat, pytest, yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
sys.path.insert(0, str(ROOT/'tools'))
import lesson_cells, sidebar  # noqa: E402
from elsewhere import lesson_notebooks  # noqa: E402
from saved import HIDDEN  # noqa: E402

LESSON = sorted(p.relative_to(NBS).as_posix() for p in (NBS/'lesson').glob('[!.]*.ipynb'))
ALL = sorted(p.relative_to(NBS).as_posix() for p in NBS.rglob('*.ipynb') if not any(s.startswith('.') for s in p.relative_to(NBS).parts))
read = lambda name: nbformat.read(NBS/name, as_version=4)

def visible_lines(cell) -> int:
    "Code lines a reader of the docs page sees in `cell`: not in hidden cells, not `#|` directives, not blank."
    if cell.cell_type != 'code' or HIDDEN.search(cell.source): return 0
    return sum(1 for l in cell.source.splitlines() if l.strip() and not l.lstrip().startswith('#|'))

def lines_until(nb, pred) -> int:
    "Visible code lines up to and including the first code cell for which `pred(cell)` holds (None if none does)."
    n = 0
    for c in nb.cells:
        n += visible_lines(c)
        if c.cell_type == 'code' and pred(c): return n
    return None

def test_the_line_counter_can_fail():
    nb = new_notebook(cells=[new_code_cell('#| hide\nx = 1\ny = 2'), new_code_cell('#| export\n\ndef f(): pass\n\nf()'),
                             new_markdown_cell('a\nb'), new_code_cell('print(1)')])
    assert [visible_lines(c) for c in nb.cells] == [0, 2, 0, 1]
    assert lines_until(nb, lambda c: 'print' in c.source) == 3
    assert lines_until(nb, lambda c: 'nothing' in c.source) is None

def test_the_first_page_plays_the_whole_game():
    "In sidebar order, the first lesson page shows fine_tune(3) and the lesson's answer within about 60 code lines."
    first = sidebar.sidebar()['website']['sidebar']['contents'][1]['contents'][0]
    nb = read(first)
    tuned = lines_until(nb, lambda c: 'fine_tune(3)' in c.source)
    said = lambda c: ''.join(o.get('text', '') for o in c.get('outputs', []) if o.get('output_type') == 'stream')
    printed = lambda c: "This is a: " in said(c) and "Probability it's a bird: " in said(c)
    answered = lines_until(nb, printed)
    assert tuned is not None and answered is not None, f'{first} does not fine_tune(3) and print the answer in its saved outputs'
    assert tuned < answered <= 60, (tuned, answered)
    out = next(said(c) for c in nb.cells if c.cell_type == 'code' and printed(c))
    assert re.search(r"This is a: bird\.\nProbability it's a bird: \d\.\d{4}", out), out

@pytest.mark.parametrize('name', LESSON)
def test_lesson_pages_are_short_and_hold_no_test_battery(name):
    nb = read(name)
    assert sum(map(visible_lines, nb.cells)) <= 105, f'{name}: {sum(map(visible_lines, nb.cells))} visible code lines'
    checks = [l for c in nb.cells if c.cell_type == 'code' for l in c.source.splitlines()
              if re.match(r'\s*(assert\b|test_\w+\(|test\()', l)]
    assert len(checks) <= 3, f'{name} holds a test battery: {checks}'

@pytest.mark.parametrize('name', lesson_notebooks())
def test_no_measured_effect_is_held_to_a_margin(name):
    "Other photos give other figures: a page shows its measurements and never asserts one against a fixed bar."
    for c in read(name).cells:
        if c.cell_type != 'code': continue
        for node in ast.walk(ast.parse('\n'.join(l for l in c.source.splitlines() if not l.lstrip().startswith(('%', '!'))))):
            if isinstance(node, ast.Assert) and any(isinstance(o, (ast.Lt, ast.Gt, ast.LtE, ast.GtE))
                                                    for n in ast.walk(node.test) if isinstance(n, ast.Compare) for o in n.ops):
                raise AssertionError(f'{name}: an assertion holds a measured value to a bar: {ast.unparse(node)}')

def test_sidebar_has_three_sections_with_every_page_once():
    assert subprocess.run([sys.executable, str(ROOT/'tools'/'sidebar.py'), '--check']).returncode == 0
    sb = yaml.safe_load((NBS/'sidebar.yml').read_text())['website']['sidebar']['contents']
    assert sb[0] == 'index.ipynb'
    sections = {s['section']: s['contents'] for s in sb[1:]}
    assert list(sections) == ['Lesson 1', 'Going further', 'Library']
    listed = [p for ps in sections.values() for p in ps] + sb[:1]
    assert len(listed) == len(set(listed)), 'a page is listed twice'
    for name, folder in zip(sections, ('lesson', 'further', 'library')):
        assert all(p.startswith(folder + '/') for p in sections[name]), (name, sections[name])
    assert set(listed) | sidebar.OFF == set(ALL), f'pages off the sidebar: {set(ALL) - set(listed) - sidebar.OFF}'
    assert 'library/12_main.ipynb' not in listed  # the `python -m fastbird` stub

def test_opening_cells_are_the_canonical_ones():
    "Badges built from the one repository setting, and the install cell, in every page a learner opens."
    assert subprocess.run([sys.executable, str(ROOT/'tools'/'lesson_cells.py'), '--check']).returncode == 0
    b = lesson_cells.badges(NBS/'lesson'/'00_is_it_a_bird.ipynb')
    assert 'colab.research.google.com/github/' + lesson_cells.REPO.removeprefix('https://github.com/') in b
    assert f'{lesson_cells.REPO}/blob/{lesson_cells.BRANCH}/nbs/lesson/00_is_it_a_bird.ipynb' in b

def test_install_cell_offline_without_fastbird_says_one_line(tmp_path):
    "Where fastbird isn't installed and there is no internet, the first cell stops with one line, no traceback, no pip."
    from nbclient import NotebookClient
    from elsewhere import environ
    (tmp_path/'sitecustomize.py').write_text(  # in the kernel: fastbird not found, and no connection to anywhere
        "import importlib.util, socket\n_find = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda name, *a: None if name.split('.')[0] == 'fastbird' else _find(name, *a)\n"
        "def _offline(*a, **k): raise OSError(101, 'Network is unreachable')\nsocket.create_connection = _offline\n")
    nb = new_notebook(cells=[new_code_cell(lesson_cells.INSTALL), new_code_cell("print('went on')")])
    with environ(PYTHONPATH=tmp_path):
        NotebookClient(nb, timeout=120, kernel_name='python3', allow_errors=True).execute()
    (err,) = [o for o in nb.cells[0].outputs if o.output_type == 'error']
    assert len(err.traceback) == 1 and 'Traceback' not in err.traceback[0], err.traceback
    assert '\n' not in err.evalue and "switch 'Internet' on" in err.evalue, err.evalue
    assert not [o for o in nb.cells[0].outputs if o.output_type == 'stream'], 'pip ran'

@pytest.mark.parametrize('name', ALL)
def test_notebooks_are_light(name):
    "Under 500 KB: pictures as JPEG at screen resolution, no widget state that no shown widget uses."
    size = (NBS/name).stat().st_size
    assert size < 500_000, f'{name} is {size/1e3:.0f} KB'
    nb = read(name)
    state = nb.metadata.get('widgets', {}).get('application/vnd.jupyter.widget-state+json', {}).get('state', {})
    shown = [o['data']['application/vnd.jupyter.widget-view+json']['model_id'] for c in nb.cells for o in c.get('outputs', [])
             if 'application/vnd.jupyter.widget-view+json' in o.get('data', {})]
    used, todo = set(), list(shown)
    while todo:
        m = todo.pop()
        if m in used or m not in state: continue
        used.add(m)
        todo += re.findall(r'IPY_MODEL_([0-9a-f]+)', json.dumps(state[m]))
    assert set(state) <= used, f'{name}: {len(set(state) - used)} widget models that no shown widget uses'

def imported_modules(nb) -> set:
    "fastbird modules a notebook's code imports."
    src = '\n'.join(c.source for c in nb.cells if c.cell_type == 'code')
    return set(re.findall(r'(?:from|import)\s+fastbird\.(\w+)', src))

def exported_module(nb):
    m = next((re.search(r'^#\|\s*default_exp\s+(\S+)', c.source, re.M) for c in nb.cells if c.cell_type == 'code'
              and re.search(r'^#\|\s*default_exp', c.source, re.M)), None)
    return m.group(1) if m else None

def test_pages_import_only_the_library_and_earlier_pages():
    library = {exported_module(read(p)) for p in ALL if p.startswith('library/')}
    allowed = set(library)
    for name in lesson_notebooks():
        nb = read(name)
        own = exported_module(nb)
        bad = imported_modules(nb) - allowed - {own}
        assert not bad, f'{name} imports fastbird.{bad}, which no library page nor earlier lesson page exports'
        if own: allowed.add(own)

def test_the_page_order_check_can_fail():
    later = new_notebook(cells=[new_code_cell('#| default_exp later')])
    early = new_notebook(cells=[new_code_cell('from fastbird.later import x\nimport fastbird.data')])
    assert exported_module(later) == 'later' and imported_modules(early) == {'later', 'data'}

LINK = re.compile(r'\]\(\s*<?([^)\s>]+)')

def notebook_links(nb) -> list:
    "Relative link targets in a notebook's markdown, without anchors."
    return [re.split(r'[#?]', l)[0] for c in nb.cells if c.cell_type == 'markdown' for l in LINK.findall(c.source)
            if not re.match(r'^[a-zA-Z][\w+.-]*:|^#|^//', l)]

@pytest.mark.parametrize('name', ALL)
def test_links_between_notebooks_are_to_notebooks_that_exist(name):
    "`.ipynb` links work on GitHub, Kaggle and Colab, and Quarto turns them into links to the pages; `.html` ones don't."
    for l in notebook_links(read(name)):
        assert not l.endswith('.html'), f'{name} links to {l}: link to the notebook (.ipynb) instead'
        if l.endswith('.ipynb'): assert ((NBS/name).parent/l).resolve().is_file(), f'{name} links to {l}, which is not there'

def numbers(text) -> set: return set(re.findall(r'\d+\.\d+|\d+%|\d+(?:\.\d+)?', text))

def test_the_table_is_read_from_its_saved_outputs():
    "The Learner page's prose quotes its saved table: every number it quotes is in the saved outputs it reads."
    nb = read('lesson/04_learner.ipynb')
    cells = {c.id: c for c in nb.cells}
    outs = ' '.join(o.get('text', '') + o.get('data', {}).get('text/plain', '') for i in ('epochs', 'onephoto')
                    for o in cells[i].get('outputs', []))
    quoted = numbers(re.sub(r'`[^`]*`', '', cells['read-table'].source))  # code in backticks names things, not values
    assert quoted, 'the prose quotes no figure of its table'
    assert quoted <= numbers(outs), f'figures in the prose that the saved table does not show: {quoted - numbers(outs)}'

WORDS = ['softmax', 'cross-entropy', 'backpropagation', 'safetensors', 'ONNX', 'pickle']

def first_mention(word):
    "(page, markdown source) where `word` first appears in the markdown of the pages, in sidebar order."
    pages = ['index.ipynb'] + lesson_notebooks() + [p for p in ALL if p.startswith('library/')]
    for p in pages:
        for c in read(p).cells:
            if c.cell_type == 'markdown' and re.search(rf'\b{re.escape(word)}\b', c.source, re.I): return p, c.source
    return None, None

@pytest.mark.parametrize('word', WORDS)
def test_words_are_explained_where_they_first_appear(word):
    "A Lesson 1 learner knows Python: the first mention of each of these names it in bold, where it is explained."
    page, src = first_mention(word)
    assert page, f'{word} is never mentioned'
    first = re.search(rf'\*\*{re.escape(word)}\*\*|\b{re.escape(word)}\b', src, re.I)
    assert first.group(0).startswith('**'), f'{word} first appears in {page} without being explained (in bold)'
