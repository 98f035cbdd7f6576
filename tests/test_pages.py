"The docs page check (tests/check_pages.py) over every page, and proof that it catches what it claims to."
from nbformat.v4 import new_notebook, new_code_cell, new_markdown_cell, new_output
import check_pages as cp

def test_flags_error_outputs_and_empty_api():
    nb = new_notebook(cells=[
        new_code_cell('1/0', outputs=[new_output('error', ename='ZeroDivisionError', evalue='division by zero', traceback=[])]),
        new_code_cell('#| echo: false\nshow_doc(f)', outputs=[new_output('execute_result', data={'text/markdown': ''})]),
        new_code_cell('#| echo: false\nshow_doc(g)', outputs=[new_output('execute_result', data={'text/markdown': '### g'})])])
    probs = cp.notebook_problems(nb)
    assert any('ZeroDivisionError' in p for p in probs)
    assert 'empty API entry: f' in probs and 'empty API entry: g' not in probs

def test_browser_sees_broken_images_and_mermaid(tmp_path):
    nb = new_notebook(cells=[new_markdown_cell('# A page\n\n' + 'Some words. ' * 30 + '\n\n![gone](missing.png)'),
                             new_markdown_cell('```{mermaid}\nflowchart LR\n  A --> B\n```')])
    html = tmp_path/'page.html'
    html.write_text(cp.to_html(nb, cp.mermaid_js()))
    r = cp.browse(cp.find_browser(), html, tmp_path/'page.png')
    assert r['images'] == 1 and r['broken'] == ['missing.png']
    assert r['mermaid'] == 1 and r['mermaid_failed'] == 0
    assert (tmp_path/'page.png').stat().st_size > 1000

def test_every_docs_page():
    assert cp.main('screenshots') == 0

def test_flags_links_to_missing_pages():
    "nbdev names pages from notebook file names without their number; a link to a page the site lacks fails the check."
    from nbformat.v4 import new_raw_cell
    names = ['00_why.ipynb', '06_cli.ipynb', '06a_main.ipynb', 'index.ipynb']
    pages = {cp.page_name(new_notebook(), n) for n in names}
    assert pages == {'why.html', 'cli.html', 'main.html', 'index.html'}
    assert cp.page_name(new_notebook(cells=[new_raw_cell('---\ntitle: x\noutput-file: other.html\n---')]), '00_why.ipynb') == 'other.html'
    nb = new_notebook(cells=[
        new_markdown_cell('See [the CLI](cli.html#fastbird-train), [why](./why.html), [home](index.html), '
                          f'[the docs]({cp.DOC_URL}), [fastai](https://docs.fast.ai/tutorial.vision.html) and '
                          '[a notebook](04c_learner.ipynb).'),
        new_markdown_cell('The stub: [main](06a_main.html).'),
        new_code_cell('x', outputs=[new_output('display_data', data={'text/html': f'<a href="{cp.DOC_URL}gone.html#a">x</a>'})])])
    assert cp.link_problems(nb, pages) == ['link to a page the site does not have: 06a_main.html',
                                           'link to a page the site does not have: gone.html']
    assert any('06a_main.html' in p for p in cp.notebook_problems(nb, pages))
    assert cp.notebook_problems(nb) == []  # without the site's pages, links are not judged
