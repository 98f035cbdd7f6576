"The docs page check (tools/check_pages.py) over every page, and proof that it catches what it claims to."
from nbformat.v4 import new_notebook, new_code_cell, new_markdown_cell, new_output, new_raw_cell

import check_pages as cp  # tools/, on the path from conftest.py

def test_flags_error_outputs_and_empty_api():
    nb = new_notebook(cells=[
        new_code_cell('1/0', outputs=[new_output('error', ename='ZeroDivisionError', evalue='division by zero', traceback=[])]),
        new_code_cell('#| echo: false\nshow_doc(f)', outputs=[new_output('execute_result', data={'text/markdown': ''})]),
        new_code_cell('#| echo: false\nshow_doc(g)', outputs=[new_output('execute_result', data={'text/markdown': '### g'})]),
        new_code_cell('import torch', outputs=[new_output('stream', name='stderr', text=(
            '/x/torch/jit/_script.py:1491: FutureWarning: `torch.jit.script` is deprecated.\n  warnings.warn(\n'))]),
        new_code_cell('train()', outputs=[new_output('stream', name='stderr', text="Note: fastbird uses EfficientNet-Lite0.\n")])])
    probs = cp.notebook_problems(nb)
    assert any('ZeroDivisionError' in p for p in probs)
    assert [p for p in probs if 'warning' in p] == ['a warning shows on the page: FutureWarning: `torch.jit.script` is deprecated.']
    assert 'empty API entry: f' in probs and 'empty API entry: g' not in probs

def test_browser_sees_broken_images_and_mermaid(tmp_path):
    "Local pictures are judged; a picture on another site (a badge) is counted, since offline it can't be loaded."
    nb = new_notebook(cells=[new_markdown_cell('# A page\n\n' + 'Some words. ' * 30 + '\n\n![gone](missing.png)'
                                               '\n\n![badge](https://example.com/badge.svg)'),
                             new_markdown_cell('```{mermaid}\nflowchart LR\n  A --> B\n```')])
    html = tmp_path/'page.html'
    html.write_text(cp.to_html(nb, cp.mermaid_js()))
    r = cp.browse(cp.find_browser(), html, tmp_path/'page.png')
    assert r['images'] == 1 and r['broken'] == ['missing.png'] and r['external_images'] == 1
    assert r['mermaid'] == 1 and r['mermaid_failed'] == 0
    assert (tmp_path/'page.png').stat().st_size > 1000

def test_every_docs_page():
    # `python tools/check_pages.py` takes the screenshots, to look at. Here nbdev processes the notebooks in one process
    # (the other test worker has the other core): two spawned processes would each import the library (measured alone:
    # 32 s of CPU in two, 23 s in one)
    assert cp.main('screenshots', shots=False, workers=0) == 0

def test_pages_are_named_and_linked_as_quarto_does():
    "A notebook's page is its folder plus nbdev's name; a link to a notebook is read from the linking page's folder."
    nbs = {n: new_notebook() for n in ['index.ipynb', 'lesson/00_is_it_a_bird.ipynb', 'lesson/04_learner.ipynb',
                                        'library/06_model.ipynb', 'library/12_main.ipynb']}
    pages = cp.site_pages(nbs)
    assert pages['lesson/00_is_it_a_bird.ipynb'] == 'lesson/is_it_a_bird.html' and pages['library/12_main.ipynb'] == 'library/main.html'
    assert cp.page_name(new_notebook(cells=[new_raw_cell('---\ntitle: x\noutput-file: other.html\n---')]), 'lesson/00_x.ipynb') == 'other.html'
    src = 'lesson/04_learner.ipynb'
    assert cp.resolve(src, '../library/06_model.ipynb#loading', pages) == ('library/model.html', None)
    assert cp.resolve(src, '00_is_it_a_bird.ipynb', pages) == ('lesson/is_it_a_bird.html', None)
    assert cp.resolve(src, 'is_it_a_bird.html', pages) == ('lesson/is_it_a_bird.html', None)
    assert cp.resolve(src, '06_model.ipynb', pages) == (None, 'lesson/06_model.ipynb')  # not in this folder
    assert cp.resolve(src, 'model.html', pages) == (None, 'lesson/model.html')
    assert cp.resolve(src, f'{cp.DOC_URL}library/model.html', pages) == ('library/model.html', None)
    assert cp.resolve(src, 'https://docs.fast.ai/tutorial.vision.html', pages) is None
    assert cp.resolve(src, '../images/app-answer.png', pages) is None  # a picture: the browser judges it
    nb = new_notebook(cells=[
        new_markdown_cell('See [the model](../library/06_model.ipynb#saving), [home](../index.ipynb), [fastai](https://docs.fast.ai/) '
                          'and [a page that moved](../04c_learner.ipynb).'),
        new_code_cell('x', outputs=[new_output('display_data', data={'text/html': f'<a href="{cp.DOC_URL}gone.html#a">x</a>'})])])
    assert cp.link_problems(nb, src, pages) == ['link to a page the site does not have: 04c_learner.ipynb',
                                                'link to a page the site does not have: gone.html']
    assert cp.notebook_problems(nb) == []  # without the site's pages, links are not judged
    html = cp.to_html(nb, None, src, pages)
    assert 'href="../library/model.html#saving"' in html and 'href="../index.html"' in html  # as the site links them
