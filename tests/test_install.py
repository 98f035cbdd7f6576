"""The real install path, as a learner meets it: a wheel built from the checkout, installed by pip with the `lesson`
extra into a fresh virtual environment without the dev tools (no nbdev, no pytest, no JupyterLab), then used from a
folder outside the checkout: `fastbird train`, `fastbird predict --json`, and a lesson notebook run by that
environment's own Jupyter kernel. Then the core install alone (the wheel without extras, and no torch): `fastbird
predict` on the model trained above, through ONNX Runtime, with the same answer.

torch and torchvision are pinned as the Makefile pins them (read from it) and come from `$TORCH_INDEX` when it is set,
as in the Makefile. Unpacking torch with its CUDA libraries (6 GB) takes pip a minute or two, so pip installs those two
once per machine, pins, index and Python into a cache folder (`$FASTBIRD_TEST_CACHE`, default `~/.cache/fastbird-test`)
that each fresh environment reads through a `.pth` file; everything else (the fastbird wheel, fastai and the rest of its
dependencies, ipykernel) pip resolves and installs into the fresh environment on every run. Delete the cache folder to
rebuild it.
"""
import fcntl, hashlib, json, os, re, shutil, subprocess, sys, tempfile, time, tomllib
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
from elsewhere import other_photos, run_elsewhere  # noqa: E402
from fastbird.data import lesson_data  # noqa: E402

NAME = tomllib.loads((ROOT/'pyproject.toml').read_text())['project']['name']
TORCH = re.search(r'^TORCH\s*:?=\s*(.+)$', (ROOT/'Makefile').read_text(), re.M).group(1).split()
TORCH_INDEX = os.environ.get('TORCH_INDEX', '')
NOT_INSTALLED = {'nbdev', 'pytest', 'pytest-xdist', 'jupyterlab', 'gradio'}  # the dev tools, and no web-app stack
NOTEBOOK = 'lesson/02_datablock.ipynb'
KERNEL = 'fastbird-fresh-venv'

# Python may write the bytecode of what it imports: the fresh venv is installed without compiling, so its first import
# of fastai, torch and the rest compiles them once and the later processes reuse that.
ENV = {k: v for k, v in os.environ.items() if k not in ('PYTHONDONTWRITEBYTECODE', 'PYTHONPATH', 'VIRTUAL_ENV')}

def pip(*args, py=None):
    "Run pip (this environment's; with `py`, installing into that interpreter's environment); fail with pip's own words."
    py_args = ['--python', str(py)] if py else []
    r = subprocess.run([sys.executable, '-m', 'pip', '--disable-pip-version-check', *py_args, *args],
                       capture_output=True, text=True)
    assert r.returncode == 0, f"pip {' '.join(args)} failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
    return r.stdout

def torch_layer() -> Path:
    "A folder where pip installed the pinned torch and torchvision (once per machine, pins and index)."
    key = hashlib.sha1(' '.join([*TORCH, TORCH_INDEX, sys.version]).encode()).hexdigest()[:10]
    top = Path(os.environ.get('FASTBIRD_TEST_CACHE', Path.home()/'.cache'/'fastbird-test'))
    top.mkdir(parents=True, exist_ok=True)
    dest = top/f'torch-{key}'
    with open(top/f'torch-{key}.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs at once build it once
        if not (dest/'.complete').exists():
            tmp = Path(tempfile.mkdtemp(dir=top, prefix='building-'))
            pip('install', '-q', '--no-compile', '--target', str(tmp), *TORCH,
                *(['--index-url', TORCH_INDEX] if TORCH_INDEX else []))
            (tmp/'.complete').write_text(' '.join(TORCH) + '\n')
            shutil.rmtree(dest, ignore_errors=True)
            tmp.rename(dest)
    return dest

def new_venv(path:Path) -> Path:
    "A new virtual environment at `path`, without pip (this pip installs into it); its Python."
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(path)], check=True)
    return path/'bin'/'python'

def fresh_venv(top:Path) -> dict:
    "A fresh venv with the wheel built from the checkout (its `lesson` extra) and ipykernel, and a kernelspec for it in its own JUPYTER_PATH."
    src = top/'src'  # what the wheel is built from, copied so that building writes nothing into the checkout
    shutil.copytree(ROOT/NAME, src/NAME, ignore=shutil.ignore_patterns('__pycache__'))
    for f in ('pyproject.toml', 'README.md', 'LICENSE'): shutil.copy(ROOT/f, src/f)
    pip('wheel', '-q', '--no-deps', '--no-build-isolation', '-w', str(top/'dist'), str(src))
    wheel, = (top/'dist').glob(f'{NAME}-*.whl')
    venv = top/'venv'
    py = new_venv(venv)
    purelib = subprocess.run([str(py), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib)/'fastbird_test_torch.pth').write_text(str(torch_layer()) + '\n')
    pip('install', '-q', '--no-compile', f'{wheel}[lesson]', 'ipykernel', py=py)
    subprocess.run([str(py), '-m', 'ipykernel', 'install', '--prefix', str(top/'jupyter'), '--name', KERNEL],
                   check=True, capture_output=True, env=ENV)
    return dict(top=top, py=py, bin=venv/'bin', jupyter=top/'jupyter'/'share'/'jupyter', wheel=wheel)

def check_no_dev_tools(fresh):
    installed = {d['name'].lower() for d in json.loads(pip('list', '--format', 'json', py=fresh['py']))}
    assert {NAME, 'ipykernel', 'torch', 'torchvision', 'fastai'} <= installed, installed
    assert not installed & NOT_INSTALLED, f'the fresh venv has {installed & NOT_INSTALLED}'

def check_train_and_predict(fresh, work:Path):
    "`fastbird train` and `fastbird predict --json` from a folder outside the checkout, on 10 photos a label."
    src = lesson_data('birds')
    labels = sorted(d.name for d in src.iterdir() if d.is_dir())
    for l in labels:
        (work/'photos'/l).mkdir(parents=True)
        for f in sorted((src/l).iterdir())[:10]: shutil.copy(f, work/'photos'/l)
    r = subprocess.run([str(fresh['bin']/'fastbird'), 'train', 'photos', '--out', 'model', '--arch', 'efficientnet_lite0'],
                       cwd=work, capture_output=True, text=True, env=ENV, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (work/'model').is_dir() and any((work/'model').iterdir())
    photo = sorted((work/'photos'/labels[0]).iterdir())[0].relative_to(work)
    r = subprocess.run([str(fresh['bin']/'fastbird'), 'predict', 'model', str(photo), '--json'],
                       cwd=work, capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res['label'] in labels and set(res['probs']) == set(labels), res
    assert abs(sum(res['probs'].values()) - 1) < 1e-4, res
    assert (work/'model'/'model.onnx').is_file()
    return work/'model', photo, res

def check_core_predicts(fresh, work:Path, model:Path, photo:Path, want:dict):
    "The wheel without extras, in a venv with no torch: `fastbird predict` answers through ONNX Runtime as the lesson's install did."
    py = new_venv(fresh['top']/'core')
    pip('install', '-q', '--no-compile', str(fresh['wheel']), py=py)
    installed = {d['name'].lower() for d in json.loads(pip('list', '--format', 'json', py=py))}
    assert {NAME, 'onnxruntime', 'numpy', 'pillow', 'safetensors'} <= installed, installed
    assert not installed & {'torch', 'torchvision', 'fastai', 'timm', 'scikit-learn', 'ipywidgets'}, installed
    r = subprocess.run([str(py.parent/'fastbird'), 'predict', str(model), str(photo), '--json'],
                       cwd=work, capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res['label'] == want['label'] and all(abs(res['probs'][k] - want['probs'][k]) < 1e-5 for k in want['probs']), (res, want)

def check_notebook(fresh, work:Path, monkeypatch):
    "A probe and then notebook 02, each run by the fresh venv's kernel from a folder outside the checkout."
    for k in set(os.environ) - set(ENV): monkeypatch.delenv(k)  # the kernel starts with this process's environment
    monkeypatch.setenv('JUPYTER_PATH', str(fresh['jupyter']))
    work.mkdir()
    probe = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        'import sys, fastbird\nprint(sys.executable)\nprint(fastbird.__file__)')])
    NotebookClient(probe, timeout=120, kernel_name=KERNEL, resources={'metadata': {'path': str(work)}}).execute()
    exe, mod = probe.cells[0].outputs[0]['text'].split()
    assert Path(exe).parent == fresh['bin'], exe
    assert Path(mod).is_relative_to(fresh['top']/'venv'), mod  # the installed wheel, not the checkout
    nb = run_elsewhere(NOTEBOOK, other_photos(work/'data'), work/'run', kernel_name=KERNEL)
    assert sum(len(c.get('outputs', [])) for c in nb.cells if c.cell_type == 'code') > 0

def test_wheel_in_fresh_venv(tmp_path, monkeypatch):
    "One test, in order (one venv, however pytest-xdist spreads the tests): install, then the CLI, then a notebook."
    t0 = time.monotonic()
    fresh = fresh_venv(tmp_path)
    t1 = time.monotonic()
    check_no_dev_tools(fresh)
    model, photo, answer = check_train_and_predict(fresh, tmp_path/'cli')
    check_core_predicts(fresh, tmp_path/'cli', model, photo, answer)
    t2 = time.monotonic()
    check_notebook(fresh, tmp_path/'nb', monkeypatch)
    print(f'install {t1-t0:.0f}s, train and predict {t2-t1:.0f}s, {NOTEBOOK} {time.monotonic()-t2:.0f}s')

def test_makefile_pins_torch():
    assert len(TORCH) == 2 and all(re.fullmatch(r'torch(vision)?==[\d.]+', t) for t in TORCH), TORCH
