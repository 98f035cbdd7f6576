"""One repository setting: `[project.urls]` in pyproject.toml (nbdev 3 reads its `git_url`, `user`, `repo`, `doc_host`
and `doc_baseurl` from there). Every GitHub and docs-site URL of the project elsewhere agrees with it, and every
lesson notebook installs the package by its PyPI name, in a cell the docs pages show."""
import re, sys, tomllib
from pathlib import Path

import nbformat, pytest

ROOT = Path(__file__).resolve().parents[1]
from elsewhere import lesson_notebooks

PROJ = tomllib.loads((ROOT/'pyproject.toml').read_text())['project']
NAME, URLS = PROJ['name'], PROJ['urls']
GIT_URL, DOC_URL = URLS['Repository'].rstrip('/'), URLS['Documentation'].rstrip('/')
REPO = GIT_URL.rsplit('/', 1)[-1]
# Any URL that names a repository or a docs site called like ours, whoever the owner
GH_RE = re.compile(r'(?:https?://)?(?:www\.)?github\.com/[\w.-]+/' + re.escape(REPO) + r'(?![\w.-])')
RAW_RE = re.compile(r'(?:https?://)?raw\.githubusercontent\.com/[\w.-]+/' + re.escape(REPO) + r'(?![\w.-])')
DOC_RE = re.compile(r'(?:https?://)?[\w-]+\.github\.io/' + re.escape(REPO) + r'(?![\w.-])')

def files():
    "Every file whose URLs must agree with the setting (a notebook's whole JSON: sources, outputs and metadata)."
    fs = [ROOT/'README.md', ROOT/'CONTRIBUTING.md', *sorted(p for p in (ROOT/'nbs').rglob('*.ipynb') if not any(s.startswith('.') for s in p.relative_to(ROOT).parts)),
          *sorted((ROOT/'.github'/'workflows').glob('*.y*ml')), *sorted((ROOT/NAME).glob('*.py')), *sorted((ROOT/'tools').glob('*.py'))]
    return sorted({f for f in fs if f.exists()})

def wrong_urls(text):
    "URLs in `text` that name a repository or docs site called like ours but not the one in pyproject.toml."
    norm = lambda u: re.sub(r'^(?:https?://)?(?:www\.)?', '', u).lower()
    ok = {norm(GIT_URL), norm(DOC_URL), norm(GIT_URL.replace('github.com', 'raw.githubusercontent.com'))}
    return sorted({m.group(0) for r in (GH_RE, RAW_RE, DOC_RE) for m in r.finditer(text) if norm(m.group(0)) not in ok})

def test_setting_is_what_nbdev_reads():
    from nbdev.config import get_config
    cfg = get_config(ROOT)
    assert cfg.git_url == GIT_URL and (cfg.user, cfg.repo) == tuple(GIT_URL.split('/')[-2:])
    assert f'{cfg.doc_host}{cfg.doc_baseurl}' == DOC_URL
    assert cfg.lib_name == NAME

def test_wrong_urls_are_caught():
    owner = GIT_URL.split('/')[-2]
    assert wrong_urls(f'see {GIT_URL}/issues and {DOC_URL}/why.html, pip install git+{GIT_URL}.git') == []
    assert set(wrong_urls(f'[x](https://github.com/not-{owner}/{REPO}) and https://{owner}x.github.io/{REPO}/cli.html')) \
        == {f'https://github.com/not-{owner}/{REPO}', f'https://{owner}x.github.io/{REPO}'}
    assert wrong_urls(f'https://github.com/{owner}/{REPO}-other and https://github.com/fastai/fastai') == []

@pytest.mark.parametrize('f', files(), ids=lambda f: str(f.relative_to(ROOT)))
def test_urls_agree_with_setting(f):
    bad = wrong_urls(f.read_text(errors='replace'))
    assert not bad, f'{f.relative_to(ROOT)} names {bad}; pyproject.toml says {GIT_URL} and {DOC_URL}'

def install_cell(nb):
    "The first code cell that runs pip, or None."
    return next((c for c in nb.cells if c.cell_type == 'code' and re.search(r'\bpip\b', c.source)), None)

EXTRAS = r'(?:\[[\w,-]+\])?'  # the package with or without extras, e.g. fastbird[lesson]: still from PyPI
HIDDEN = re.compile(r'^#\|\s*(hide\b|include:\s*false|echo:\s*false)', re.M)  # what keeps a cell off the docs page

@pytest.mark.parametrize('name', lesson_notebooks())
def test_install_cell(name):
    nb = nbformat.read(ROOT/'nbs'/name, as_version=4)
    cell = install_cell(nb)
    assert cell is not None, f'{name} has no install cell'
    assert re.search(rf"""['"]pip['"],\s*['"]install['"],\s*['"]-q['"],\s*['"]{re.escape(NAME)}{EXTRAS}['"]""", cell.source), \
        f"{name}'s install cell does not `pip install -q {NAME}` from PyPI:\n{cell.source}"
    assert 'git+' not in cell.source, f"{name} installs from git, not from PyPI"
    assert not HIDDEN.search(cell.source), f"{name}'s install cell is hidden from the docs page:\n{cell.source}"

def test_readme_installs_from_pypi():
    text = (ROOT/'README.md').read_text()
    assert re.search(rf'^\s*pip install (["\']?){re.escape(NAME)}{EXTRAS}\1\s*$', text, re.M), f'README.md never says `pip install {NAME}`'
    assert 'pip install git+' not in text

def test_release_publishes_this_package():
    "The release workflow's PyPI environment names this package's page; it builds with `python -m build`."
    text = (ROOT/'.github'/'workflows'/'release.yaml').read_text()
    assert re.findall(r'pypi\.org/(?:p|project)/([\w.-]+)', text) == [NAME]
    assert 'python -m build' in text and 'pypa/gh-action-pypi-publish' in text and 'id-token: write' in text
    assert not re.search(r'password:|api[_-]?token|PYPI_TOKEN', text, re.I), 'trusted publishing needs no token'

def test_workflows():
    "Docs from the maintained nbdev 3 action; public CI fetches the photos (retried) before `make test` on CPU torch."
    import yaml
    wf = ROOT/'.github'/'workflows'
    deploy = yaml.safe_load((wf/'deploy.yaml').read_text())
    assert [s.get('uses', '').split('@')[0] for s in deploy['jobs']['deploy']['steps']] == ['AnswerDotAI/workflows/quarto-ghp3']
    test = (wf/'test.yaml').read_text()
    assert 'TORCH_INDEX: https://download.pytorch.org/whl/cpu' in test and 'FASTBIRD_DATA:' in test
    assert test.index('fastbird fetch') < test.index('run: make test') and re.search(r'for try in .*; do', test)
    assert 'nbdev-export' in test and 'nbdev-clean' in test
