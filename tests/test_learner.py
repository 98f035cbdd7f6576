"""fastbird.learner, fastbird.model and fastbird.clean on small real data: training recipes, the safe model format
and its errors, predictions by label name, test-time augmentation, progress in logs, junk ranking, and the two widgets
driven as a user would."""
import json, pickle, shutil
from datetime import datetime, timezone

import numpy as np, pytest, torch
from PIL import Image
from traitlets import Bunch
from fastbird import learner as L, model as M, clean as C
from fastbird.data import DataError, split_files
from fastbird.images import ImageReadError

from photos import ARCH, small_copy

@pytest.fixture(scope='module')
def trained(tmp_path_factory, birds):
    "The linear probe trained and saved on a small copy of the birds."
    d = small_copy(birds, tmp_path_factory.mktemp('data'))
    res = L.train(d, d.parent/'model', arch=ARCH, size=96)
    return res, d

def test_train_saves_only_safe_files(trained):
    res, d = trained
    assert sorted(p.name for p in res.model_dir.iterdir()) == ['familiar.safetensors', 'model.json', 'model.onnx', 'model.safetensors']
    assert res.n_train + res.n_valid == 16 and 0 <= res.valid_error <= 1
    meta = json.loads((res.model_dir/'model.json').read_text())
    assert meta['labels'] == ['bird', 'forest'] and meta['arch'] == ARCH and meta['size'] == 96
    assert meta['info']['valid_error'] == res.valid_error

def test_load_never_unpickles(trained, monkeypatch):
    res, d = trained
    def boom(*a, **k): raise AssertionError('unpickling while loading a fastbird model')
    for mod, name in [(pickle, 'load'), (pickle, 'loads'), (torch, 'load')]: monkeypatch.setattr(mod, name, boom)
    f = sorted((d/'bird').iterdir())[0]
    for engine in ('onnx', 'torch'):
        m = M.load_classifier(res.model_dir, engine)
        assert m.engine == engine and M.predict(m, f).probs == pytest.approx(M.predict(res.model, f).probs, abs=1e-5)

def test_predict_inputs_and_errors(trained, tmp_path):
    res, d = trained
    f = sorted((d/'forest').iterdir())[0]
    a, b, c = (M.predict(res.model, x) for x in (f, Image.open(f), f.read_bytes()))
    assert a.probs == pytest.approx(b.probs, abs=1e-6) == c.probs
    assert set(a.probs) == {'bird', 'forest'} and sum(a.probs.values()) == pytest.approx(1, abs=1e-5)
    assert a.label == max(a.probs, key=a.probs.get)
    bad = tmp_path/'cat.jpg'; bad.write_bytes(b'<!DOCTYPE html><html></html>')
    with pytest.raises(ImageReadError, match='cat.jpg'): M.predict(res.model, bad)
    with pytest.raises(ValueError, match='No images given'): M.predict_batch(res.model, [])

def test_probe_is_refit_on_every_photo(trained):
    "The saved probe learned from the validation photos too; the error reported is the split's, measured before."
    res, d = trained
    trn, val = split_files(d)
    before = L.fit_features(trn, [f.parent.name for f in trn], ARCH, size=96)
    assert res.valid_error == pytest.approx(L.valid_error(before, val, [f.parent.name for f in val]))
    after = L.fit_features(trn+val, [f.parent.name for f in trn+val], ARCH, size=96)
    assert M.predict_batch(res.model, val) == pytest.approx(M.predict_batch(after, val), abs=1e-4)
    assert res.model.info['refit'] and res.model.info['n_valid'] == len(val)

def test_tta_averages_the_left_right_mirror(trained):
    "Test-time augmentation looks at the photo and its left-right mirror, the flip that training augments with, not the upside-down photo."
    from dataclasses import replace
    from PIL import ImageOps
    res, d = trained
    f = sorted((d/'bird').iterdir())[0]
    photo = Image.open(f).convert('RGB')
    saved = M.load_classifier(M.save_classifier(replace(res.model, tta=True), d.parent/'tta-model'))
    assert saved.tta and json.loads((saved.model_dir/'model.json').read_text())['tta'] is True
    for m in (replace(res.model, tta=True), saved):  # through torch, and through the saved ONNX graph
        assert m.tta and M.predict_batch(replace(m, tta=False), [f]) == pytest.approx(M.predict_batch(res.model, [f]), abs=1e-5)
        plain, mirrored, upside_down = (M.predict_batch(replace(m, tta=False), [x])
                                        for x in (photo, ImageOps.mirror(photo), ImageOps.flip(photo)))
        got = M.predict_batch(m, [f])
        assert got == pytest.approx((plain+mirrored)/2, abs=1e-5)
        assert np.abs(got - (plain+upside_down)/2).max() > 1e-3, 'the top-to-bottom flip gives other answers on this photo'
        probs, feats = M.model_outputs(m, [f])
        _, f_plain = M.model_outputs(replace(m, tta=False), [photo])
        _, f_mirror = M.model_outputs(replace(m, tta=False), [ImageOps.mirror(photo)])
        assert probs == pytest.approx(got) and feats == pytest.approx((f_plain+f_mirror)/2, abs=1e-4)

def test_labels_by_name_not_order(birds):
    "Labels that sort the other way round: the bird photos must still come out as the bird label, by name."
    fs = sorted((birds/'bird').iterdir())[:6] + sorted((birds/'forest').iterdir())[:6]
    names = ['zz_bird']*6 + ['aa_forest']*6
    m = L.fit_features(fs, names, ARCH, size=96)
    assert m.labels == ['aa_forest', 'zz_bird']
    p = M.predict(m, fs[0])
    assert p.label == 'zz_bird' and p.probs['zz_bird'] > 0.5

def _broken_copy(src, dst, fn):
    shutil.copytree(src, dst); fn(dst); return dst

def test_model_file_errors(trained, tmp_path):
    src = trained[0].model_dir
    with pytest.raises(M.ModelFileError, match='No model folder'): M.load_classifier(tmp_path/'nope')
    d = _broken_copy(src, tmp_path/'trunc', lambda d: (d/'model.safetensors').write_bytes((d/'model.safetensors').read_bytes()[:5000]))
    with pytest.raises(M.ModelFileError, match='damaged'): M.load_classifier(d)
    def relabel(d):
        m = json.loads((d/'model.json').read_text()); m['labels'] = ['a', 'b', 'c']; (d/'model.json').write_text(json.dumps(m))
    d = _broken_copy(src, tmp_path/'mis', relabel)
    with pytest.raises(M.ModelFileError, match="not the graph of the model"): M.load_classifier(d)
    with pytest.raises(M.ModelFileError, match="don't fit"): M.load_classifier(d, engine='torch')
    def rearch(d):
        m = json.loads((d/'model.json').read_text()); m['arch'] = 'resnet18'; (d/'model.json').write_text(json.dumps(m))
    d = _broken_copy(src, tmp_path/'arch', rearch)
    with pytest.raises(M.ModelFileError, match=f"{M.FEATURES['resnet18']} resnet18 features"): M.load_classifier(d)  # the graph is checked against model.json too
    with pytest.raises(M.ModelFileError, match="don't fit"): M.load_classifier(d, engine='torch')
    d = _broken_copy(src, tmp_path/'json', lambda d: (d/'model.json').write_text('{"labels": '))
    with pytest.raises(M.ModelFileError, match='not valid JSON'): M.load_classifier(d)
    d = _broken_copy(src, tmp_path/'newer', lambda d: (d/'model.json').write_text(json.dumps({**json.loads((d/'model.json').read_text()), 'version': 9})))
    with pytest.raises(M.ModelFileError, match='newer fastbird'): M.load_classifier(d)
    d = _broken_copy(src, tmp_path/'foreign', lambda d: torch.save({'w': torch.zeros(3)}, d/'model.safetensors'))
    with pytest.raises(M.ModelFileError, match='not a safetensors file'): M.load_classifier(d)
    d = _broken_copy(src, tmp_path/'onnx', lambda d: (d/'model.onnx').write_bytes((d/'model.onnx').read_bytes()[:3000]))
    with pytest.raises(M.ModelFileError, match='not an ONNX graph'): M.load_classifier(d)
    assert M.load_classifier(d, engine='torch').engine == 'torch'  # the weights are whole: torch still reads them
    d = _broken_copy(src, tmp_path/'nograph', lambda d: (d/'model.onnx').unlink())
    with pytest.raises(M.ModelFileError, match='no model.onnx'): M.load_classifier(d, engine='onnx')
    with pytest.raises(ValueError, match='Unknown engine'): M.load_classifier(src, engine='tensorflow')
    pk = tmp_path/'pkl'; pk.mkdir(); (pk/'export.pkl').write_bytes(b'\x80\x04K\x01.')
    with pytest.raises(M.ModelFileError, match='load_fastai_export'): M.load_classifier(pk)

def test_fastai_export_needs_explicit_opt_in(tmp_path):
    f = tmp_path/'export.pkl'; f.write_bytes(pickle.dumps({'x': 1}))
    with pytest.raises(PermissionError, match='runs any code'): M.load_fastai_export(f)

def test_train_checks_data_first(tmp_path, birds):
    (tmp_path/'only'/'bird').mkdir(parents=True)
    shutil.copy(sorted((birds/'bird').iterdir())[0], tmp_path/'only'/'bird')
    with pytest.raises(DataError, match='one label'): L.train(tmp_path/'only', tmp_path/'m', arch=ARCH)
    assert not (tmp_path/'m').exists()

def test_lesson_recipe_logs_plain_lines(tmp_path, capsys, birds):
    """16 photos, fewer than a batch of 32: every epoch still trains on a batch, with a finite loss that falls.
    Under pytest stdout is not a terminal: training prints a line per epoch, and no redrawn bars."""
    d = small_copy(birds, tmp_path/'data', n=8)
    res = L.train(d, tmp_path/'m', arch=ARCH, recipe='lesson', size=64, epochs=3)
    out = capsys.readouterr().out
    assert '\r' not in out and out.count('epoch 1/1:') == 1 and out.count('epoch 3/3:') == 1, out
    assert 'nan' not in out, out
    assert len(res.losses) == 4 and all(np.isfinite(res.losses)) and res.losses[-1] < res.losses[0], res.losses
    assert res.model.head == 'fastai'
    m = M.load_classifier(tmp_path/'m')
    f = sorted((d/'bird').iterdir())[0]
    assert m.engine == 'onnx' and M.predict(m, f).probs == pytest.approx(M.predict(res.model, f).probs, abs=1e-5)

def test_rank_suspects_and_cleaner(tmp_path, birds):
    d = small_copy(birds, tmp_path/'data', n=6)
    junk = sorted((birds/'forest').iterdir())[30]
    shutil.copy(junk, d/'bird'/'misfiled.jpg')  # a forest photo filed under bird
    df = C.rank_suspects(d, ARCH, size=96, folds=3)
    assert len(df) == 13 and df.score.is_monotonic_decreasing
    assert df.file.iloc[0].name == 'misfiled.jpg', df[['file', 'score']]
    c = C.Cleaner(df, n=4)
    first, second = c.shown()[:2]
    assert first.name == 'misfiled.jpg'
    c.dropdowns[first].value = 'forest'
    c.dropdowns[second].value = C.Cleaner.DELETE
    c.label.value = 'forest'; c.label.value = 'bird'
    assert (c.dropdowns[first].value, c.dropdowns[second].value) == ('forest', C.Cleaner.DELETE)
    c.dropdowns[second].value = C.Cleaner.KEEP  # changed my mind
    shutil.copy(junk, d/'forest'/'misfiled.jpg')  # a name clash in the destination
    done = c.apply()
    assert done['deleted'] == [] and second.exists()
    (src, dest), = done['moved']
    assert src == first and not first.exists() and dest.parent.name == 'forest' and dest.name != 'misfiled.jpg' and dest.exists()
    assert c.choices == {} and first not in c.shown()

def test_bird_uploader(trained, tmp_path):
    res, d = trained
    w = C.bird_uploader(res.model)
    f = sorted((d/'bird').iterdir())[0]
    def item(name, data): return Bunch(name=name, type='image/jpeg', size=len(data), content=memoryview(data),
                                       last_modified=datetime.now(timezone.utc))
    w.uploader.value = (item('mine.jpg', f.read_bytes()), item('page.jpg', b'<html></html>'))
    p = M.predict(res.model, f)
    assert f"mine.jpg</b>: This is a: {p.label}. Probability it's a bird: {p.probs['bird']:.4f}" in w.answer.value
    assert 'page.jpg</b>: not an image' in w.answer.value

@pytest.mark.parametrize('head', ['linear', 'fastai'])
def test_resnet18_models_round_trip(tmp_path, head, birds):
    "A resnet18 model (as trained where its weights can be downloaded) saves and loads offline, for both heads and both engines."
    from fastbird.backbones import BACKBONES
    bb = BACKBONES['resnet18']
    assert bb.mean != bb.std
    m = M.Classifier(['bird', 'forest'], 'resnet18', head, 64, bb.mean, bb.std, bb.interpolation, net=M.build_net('resnet18', head, 2).eval())
    d = M.save_classifier(m, tmp_path/'r18')
    f = sorted((birds/'bird').iterdir())[0]
    for engine in ('onnx', 'torch'):
        back = M.load_classifier(d, engine)
        assert (back.arch, back.head, back.engine) == ('resnet18', head, engine)
        assert (back.mean, back.std) == (m.mean, m.std) and back.stats == bb.stats
        assert M.predict(back, f).probs == pytest.approx(M.predict(m, f).probs, abs=1e-5)

def test_what_a_model_reads_photos_with_round_trips(tmp_path, birds):
    "Made-up statistics, each channel its own, mean and std apart, and another filter: the loaded model reads photos as the saved one did."
    mean, std = (0.3, 0.45, 0.6), (0.15, 0.2, 0.35)
    m = M.Classifier(['bird', 'forest'], ARCH, 'linear', 80, mean, std, 'bicubic', info={'note': 'made up'},
                     net=M.build_net(ARCH, 'linear', 2).eval())
    d = M.save_classifier(m, tmp_path/'m')
    meta = json.loads((d/'model.json').read_text())
    assert (meta['mean'], meta['std'], meta['interpolation'], meta['size']) == (list(mean), list(std), 'bicubic', 80)
    fs = [sorted((birds/l).iterdir())[3] for l in ('bird', 'forest')]
    want = M.predict_batch(m, fs)
    for engine in ('onnx', 'torch'):
        back = M.load_classifier(d, engine)
        assert (back.mean, back.std, back.interpolation, back.size, back.info) == (mean, std, 'bicubic', 80, {'note': 'made up'})
        assert M.predict_batch(back, fs) == pytest.approx(want, abs=1e-5)
        assert M.model_outputs(back, fs)[1] == pytest.approx(M.model_outputs(m, fs)[1], abs=1e-4)
