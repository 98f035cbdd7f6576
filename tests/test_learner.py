"""fastbird.learner on small real data: training recipes, the safe model format and its errors, predictions by
label name, progress in logs, junk ranking, and the two widgets driven as a user would."""
import json, pickle, shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np, pytest, torch
from PIL import Image
from traitlets import Bunch
from fastbird import learner as L
from fastbird.data import DataError
from fastbird.fetch import lesson_data
from fastbird.pretrained import ImageReadError

from photos import BIRDS, ARCH, small_copy

@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    "The linear probe trained and saved on a small copy of the birds."
    d = small_copy(tmp_path_factory.mktemp('data'))
    res = L.train(d, d.parent/'model', arch=ARCH, size=96)
    return res, d

def test_train_saves_only_safe_files(trained):
    res, d = trained
    assert sorted(p.name for p in res.model_dir.iterdir()) == ['model.json', 'model.safetensors']
    assert res.n_train + res.n_valid == 16 and 0 <= res.valid_error <= 1
    meta = json.loads((res.model_dir/'model.json').read_text())
    assert meta['labels'] == ['bird', 'forest'] and meta['arch'] == ARCH and meta['size'] == 96
    assert meta['info']['valid_error'] == res.valid_error

def test_load_never_unpickles(trained, monkeypatch):
    res, d = trained
    def boom(*a, **k): raise AssertionError('unpickling while loading a fastbird model')
    for mod, name in [(pickle, 'load'), (pickle, 'loads'), (torch, 'load')]: monkeypatch.setattr(mod, name, boom)
    m = L.load_model(res.model_dir)
    f = sorted((d/'bird').iterdir())[0]
    assert L.predict(m, f).probs == pytest.approx(L.predict(res.model, f).probs, abs=1e-5)

def test_predict_inputs_and_errors(trained, tmp_path):
    res, d = trained
    f = sorted((d/'forest').iterdir())[0]
    a, b, c = (L.predict(res.model, x) for x in (f, Image.open(f), f.read_bytes()))
    assert a.probs == pytest.approx(b.probs, abs=1e-6) == c.probs
    assert set(a.probs) == {'bird', 'forest'} and sum(a.probs.values()) == pytest.approx(1, abs=1e-5)
    assert a.label == max(a.probs, key=a.probs.get)
    bad = tmp_path/'cat.jpg'; bad.write_bytes(b'<!DOCTYPE html><html></html>')
    with pytest.raises(ImageReadError, match='cat.jpg'): L.predict(res.model, bad)

def test_probe_is_refit_on_every_photo(trained):
    "The saved probe learned from the validation photos too; the error reported is the split's, measured before."
    res, d = trained
    trn, val = L.split_files(d)
    before = L.fit_features(trn, [f.parent.name for f in trn], ARCH, size=96)
    assert res.valid_error == pytest.approx(L.valid_error(before, val, [f.parent.name for f in val]))
    after = L.fit_features(trn+val, [f.parent.name for f in trn+val], ARCH, size=96)
    assert L.predict_batch(res.model, val).numpy() == pytest.approx(L.predict_batch(after, val).numpy(), abs=1e-4)
    assert res.model.info['refit'] and res.model.info['n_valid'] == len(val)

def test_split_files_is_the_lessons_split():
    from fastai.vision.all import RandomSplitter, get_image_files
    files = get_image_files(BIRDS)
    for seed in (42, 7):
        trn, val = L.split_files(BIRDS, seed=seed)
        assert val == [files[i] for i in RandomSplitter(0.2, seed=seed)(files)[1]]
    assert L.split_files(BIRDS, seed=7)[1] != L.split_files(BIRDS)[1], 'the seed is used'

def test_tta_averages_the_left_right_mirror(trained):
    from PIL import ImageOps
    res, d = trained
    f = sorted((d/'bird').iterdir())[0]
    m = L.load_model(res.model_dir); m.tta = True
    plain, mirrored = (L.predict_batch(res.model, [x]) for x in (Image.open(f), ImageOps.mirror(Image.open(f).convert('RGB'))))
    assert L.predict_batch(m, [f]).numpy() == pytest.approx(((plain+mirrored)/2).numpy(), abs=1e-3)

def test_labels_by_name_not_order():
    "Labels that sort the other way round: the bird photos must still come out as the bird label, by name."
    fs = sorted((BIRDS/'bird').iterdir())[:6] + sorted((BIRDS/'forest').iterdir())[:6]
    names = ['zz_bird']*6 + ['aa_forest']*6
    m = L.fit_features(fs, names, ARCH, size=96)
    assert m.labels == ['aa_forest', 'zz_bird']
    p = L.predict(m, fs[0])
    assert p.label == 'zz_bird' and p.probs['zz_bird'] > 0.5

def _broken_copy(src, dst, fn):
    shutil.copytree(src, dst); fn(dst); return dst

def test_model_file_errors(trained, tmp_path):
    src = trained[0].model_dir
    with pytest.raises(L.ModelFileError, match='No model folder'): L.load_model(tmp_path/'nope')
    d = _broken_copy(src, tmp_path/'trunc', lambda d: (d/'model.safetensors').write_bytes((d/'model.safetensors').read_bytes()[:5000]))
    with pytest.raises(L.ModelFileError, match='damaged'): L.load_model(d)
    def relabel(d):
        m = json.loads((d/'model.json').read_text()); m['labels'] = ['a', 'b', 'c']; (d/'model.json').write_text(json.dumps(m))
    with pytest.raises(L.ModelFileError, match="don't fit"): L.load_model(_broken_copy(src, tmp_path/'mis', relabel))
    def rearch(d):
        m = json.loads((d/'model.json').read_text()); m['arch'] = 'resnet18'; (d/'model.json').write_text(json.dumps(m))
    with pytest.raises(L.ModelFileError, match="don't fit"): L.load_model(_broken_copy(src, tmp_path/'arch', rearch))
    d = _broken_copy(src, tmp_path/'json', lambda d: (d/'model.json').write_text('{"labels": '))
    with pytest.raises(L.ModelFileError, match='not valid JSON'): L.load_model(d)
    d = _broken_copy(src, tmp_path/'newer', lambda d: (d/'model.json').write_text(json.dumps({**json.loads((d/'model.json').read_text()), 'version': 9})))
    with pytest.raises(L.ModelFileError, match='newer fastbird'): L.load_model(d)
    d = _broken_copy(src, tmp_path/'foreign', lambda d: torch.save({'w': torch.zeros(3)}, d/'model.safetensors'))
    with pytest.raises(L.ModelFileError, match='not a safetensors file'): L.load_model(d)
    pk = tmp_path/'pkl'; pk.mkdir(); (pk/'export.pkl').write_bytes(b'\x80\x04K\x01.')
    with pytest.raises(L.ModelFileError, match='load_fastai_export'): L.load_model(pk)

def test_fastai_export_needs_explicit_opt_in(tmp_path):
    f = tmp_path/'export.pkl'; f.write_bytes(pickle.dumps({'x': 1}))
    with pytest.raises(PermissionError, match='runs any code'): L.load_fastai_export(f)

def test_train_checks_data_first(tmp_path):
    (tmp_path/'only'/'bird').mkdir(parents=True)
    shutil.copy(sorted((BIRDS/'bird').iterdir())[0], tmp_path/'only'/'bird')
    with pytest.raises(DataError, match='one label'): L.train(tmp_path/'only', tmp_path/'m', arch=ARCH)
    assert not (tmp_path/'m').exists()

def test_lesson_recipe_logs_plain_lines(tmp_path, capsys):
    """16 photos, fewer than a batch of 32: every epoch still trains on a batch, with a finite loss that falls.
    Under pytest stdout is not a terminal: training prints a line per epoch, and no redrawn bars."""
    d = small_copy(tmp_path/'data', n=8)
    res = L.train(d, tmp_path/'m', arch=ARCH, recipe='lesson', size=64, epochs=3)
    out = capsys.readouterr().out
    assert '\r' not in out and out.count('epoch 1/1:') == 1 and out.count('epoch 3/3:') == 1, out
    assert 'nan' not in out, out
    assert len(res.losses) == 4 and all(np.isfinite(res.losses)) and res.losses[-1] < res.losses[0], res.losses
    assert res.model.head == 'fastai'
    m = L.load_model(tmp_path/'m')
    f = sorted((d/'bird').iterdir())[0]
    assert L.predict(m, f).probs == pytest.approx(L.predict(res.model, f).probs, abs=1e-5)

def test_rank_suspects_and_cleaner(tmp_path):
    d = small_copy(tmp_path/'data', n=6)
    junk = sorted((BIRDS/'forest').iterdir())[30]
    shutil.copy(junk, d/'bird'/'misfiled.jpg')  # a forest photo filed under bird
    df = L.rank_suspects(d, ARCH, size=96, folds=3)
    assert len(df) == 13 and df.score.is_monotonic_decreasing
    assert df.file.iloc[0].name == 'misfiled.jpg', df[['file', 'score']]
    c = L.Cleaner(df, n=4)
    first, second = c.shown()[:2]
    assert first.name == 'misfiled.jpg'
    c.dropdowns[first].value = 'forest'
    c.dropdowns[second].value = L.Cleaner.DELETE
    c.label.value = 'forest'; c.label.value = 'bird'
    assert (c.dropdowns[first].value, c.dropdowns[second].value) == ('forest', L.Cleaner.DELETE)
    c.dropdowns[second].value = L.Cleaner.KEEP  # changed my mind
    shutil.copy(junk, d/'forest'/'misfiled.jpg')  # a name clash in the destination
    done = c.apply()
    assert done['deleted'] == [] and second.exists()
    (src, dest), = done['moved']
    assert src == first and not first.exists() and dest.parent.name == 'forest' and dest.name != 'misfiled.jpg' and dest.exists()
    assert c.choices == {} and first not in c.shown()

def test_bird_uploader(trained, tmp_path):
    res, d = trained
    w = L.bird_uploader(res.model)
    f = sorted((d/'bird').iterdir())[0]
    def item(name, data): return Bunch(name=name, type='image/jpeg', size=len(data), content=memoryview(data),
                                       last_modified=datetime.now(timezone.utc))
    w.uploader.value = (item('mine.jpg', f.read_bytes()), item('page.jpg', b'<html></html>'))
    p = L.predict(res.model, f)
    assert f"mine.jpg</b>: This is a: {p.label}. Probability it's a bird: {p.probs['bird']:.4f}" in w.answer.value
    assert 'page.jpg</b>: not an image' in w.answer.value

@pytest.mark.parametrize('head', ['linear', 'fastai'])
def test_resnet18_models_round_trip(tmp_path, head):
    "A resnet18 model (as trained where its weights can be downloaded) saves and loads offline, for both heads."
    net = L.build_net('resnet18', head, 2).eval()
    m = L.Classifier(net, ['bird', 'forest'], 'resnet18', head, 64, ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]))
    back = L.load_model(L.save_model(m, tmp_path/'r18'))
    f = sorted((BIRDS/'bird').iterdir())[0]
    assert back.arch == 'resnet18' and back.head == head
    assert L.predict(back, f).probs == pytest.approx(L.predict(m, f).probs, abs=1e-6)
