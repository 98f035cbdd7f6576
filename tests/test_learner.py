"""fastbird.learner, fastbird.model and fastbird.clean on small real data: training recipes, the model format (version
1) and the one-line refusal of every other folder, predictions by label name, test-time augmentation, progress in logs,
the lesson recipe's seed, junk ranking, and the two widgets driven as a user would."""
import json, os, pickle, shutil, subprocess, sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np, pytest, torch
from PIL import Image
from safetensors import safe_open
from traitlets import Bunch
from fastbird import learner as L, model as M, clean as C
from fastbird.backbones import BACKBONES
from fastbird.data import DataError, split_files
from fastbird.images import ImageReadError

from photos import ARCH, small_copy

def test_train_saves_the_format(trained):
    res, d = trained
    assert sorted(p.name for p in res.model_dir.iterdir()) == ['familiar.safetensors', 'model.json', 'model.onnx',
                                                               'model.safetensors']
    assert res.n_train + res.n_valid == 16 and 0 <= res.valid_error <= 1
    meta = json.loads((res.model_dir/'model.json').read_text())
    assert list(meta) == ['format', 'version', 'arch', 'head', 'labels', 'size', 'mean', 'std', 'interpolation', 'tta',
                          'weights', 'outputs', 'familiarity', 'info']
    assert (meta['format'], meta['version'], meta['arch'], meta['head'], meta['weights']) == (
        'fastbird-model', 1, ARCH, 'linear', 'head')
    assert meta['labels'] == ['bird', 'forest'] and meta['size'] == 96 and meta['info']['valid_error'] == res.valid_error
    feats = M.model_outputs(res.model, [sorted((d/'bird').iterdir())[0]])[1]
    assert meta['outputs'] == {'probs': 2, 'features': feats.shape[1]}, 'the width of the graph\'s `features`'

def modes(d) -> set: return {oct(f.stat().st_mode & 0o777) for f in Path(d).iterdir() if f.is_file()}

def test_model_files_share_the_ordinary_mode(trained, tmp_path):
    "Every file of a model folder gets the mode the umask gives a new file: 0644 under 022, 0640 under 027."
    res, _ = trained
    umask = os.umask(0o022); os.umask(umask)
    assert modes(res.model_dir) == {oct(0o666 & ~umask)} and len(list(res.model_dir.iterdir())) == 4
    tiny = M.Classifier(['a', 'b'], ARCH, 'linear', 32, (0.5,)*3, (0.5,)*3, net=M.build_net(ARCH, 'linear', 2),
                        familiar=M.calibrate_familiarity(np.random.default_rng(0).random((4, 8))))
    old = os.umask(0o027)
    try: M.save_classifier(tiny, tmp_path/'027')
    finally: os.umask(old)
    assert modes(tmp_path/'027') == {'0o640'} and len(list((tmp_path/'027').iterdir())) == 4
    (tmp_path/'again').mkdir()
    for f in res.model_dir.iterdir(): (tmp_path/'again'/f.name).write_bytes(b''); (tmp_path/'again'/f.name).chmod(0o600)
    M.save_classifier(tiny, tmp_path/'again')  # over files of another mode: they are replaced, not written into
    assert modes(tmp_path/'again') == {oct(0o666 & ~umask)}

def test_load_never_unpickles(trained, monkeypatch):
    res, d = trained
    def boom(*a, **k): raise AssertionError('unpickling while loading a fastbird model')
    for mod, name in [(pickle, 'load'), (pickle, 'loads'), (torch, 'load')]: monkeypatch.setattr(mod, name, boom)
    f = sorted((d/'bird').iterdir())[0]
    m = M.load_classifier(res.model_dir, 'onnx')
    assert m.engine == 'onnx' and M.predict(m, f).probs == pytest.approx(M.predict(res.model, f).probs, abs=1e-5)
    monkeypatch.undo()  # torch: the head from the folder, the body from the backbone's published weights (as shipped)
    for name in ('load', 'loads'): monkeypatch.setattr(pickle, name, boom)
    assert M.predict(M.load_classifier(res.model_dir, 'torch'), f).probs == pytest.approx(M.predict(m, f).probs, abs=1e-5)

def test_a_probe_keeps_only_its_head(trained):
    "The probe's body is the backbone's published one: the folder keeps the head, and torch rebuilds the body from them."
    res, d = trained
    with safe_open(res.model_dir/'model.safetensors', 'numpy') as s: assert sorted(s.keys()) == ['1.2.bias', '1.2.weight']
    assert (res.model_dir/'model.safetensors').stat().st_size < 50_000
    back = M.load_classifier(res.model_dir, 'torch')
    fs = [sorted((d/l).iterdir())[0] for l in ('bird', 'forest')]
    assert back.weights == 'head' and M.predict_batch(back, fs) == pytest.approx(M.predict_batch(res.model, fs), abs=1e-5)
    ref = M.build_net(ARCH, 'linear', 2, pretrained=True)[0].state_dict()
    assert ref.keys() == back.net[0].state_dict().keys()
    assert all(torch.equal(v, ref[k]) for k, v in back.net[0].state_dict().items())

def test_only_a_published_body_is_saved_as_a_head(trained, tmp_path):
    res, _ = trained
    changed = M.build_net(ARCH, 'linear', 2, pretrained=True)
    changed.load_state_dict({**changed.state_dict(), '1.2.weight': res.model.net[1][2].weight,
                             '1.2.bias': res.model.net[1][2].bias})
    with torch.no_grad(): changed[0][0].weight.mul_(1.01)  # the stem, trained a little
    with pytest.raises(ValueError, match="set weights='all'"): M.save_classifier(replace(res.model, net=changed), tmp_path/'m')
    assert not (tmp_path/'m'/'model.json').exists()

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

def test_the_probe_sees_photos_at_its_backbones_size(birds, tmp_path):
    "By default the probe squishes photos to the size its backbone's weights were made for, not the lesson's 192."
    d = small_copy(birds, tmp_path/'data', n=3)
    bb = BACKBONES[ARCH]
    res = L.train(d, tmp_path/'m', arch=ARCH, verbose=False)
    assert res.model.size == bb.size != L.LESSON_SIZE and json.loads((tmp_path/'m'/'model.json').read_text())['size'] == bb.size

def test_tta_averages_the_left_right_mirror(trained, tmp_path):
    "Test-time augmentation looks at the photo and its left-right mirror, the flip training augments with."
    from PIL import ImageOps
    res, d = trained
    f = sorted((d/'bird').iterdir())[0]
    photo = Image.open(f).convert('RGB')
    saved = M.load_classifier(M.save_classifier(replace(res.model, tta=True), tmp_path/'tta-model'))
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

# A model folder of any other format is refused, in one line that says what to do

def _edit_json(**kw):
    "A change to a model folder that sets `kw` in its model.json (a value of `...` removes the key)."
    def change(d):
        m = {**json.loads((d/'model.json').read_text()), **kw}
        (d/'model.json').write_text(json.dumps({k: v for k, v in m.items() if v is not ...}))
    return change

def _meta(d): return json.loads((d/'model.json').read_text())

def _cut(name, n): return lambda d: (d/name).write_bytes((d/name).read_bytes()[:n])

BROKEN = {  # how a folder is broken: (the change, what the refusal says, the engines that refuse it)
    'a newer version': (_edit_json(version=2), 'upgrade fastbird', ('onnx', 'torch')),
    'no version': (_edit_json(version=...), 'version None of the model format', ('onnx', 'torch')),
    'an older version': (_edit_json(version=0), 'save the model again with this fastbird', ('onnx', 'torch')),
    'another format': (_edit_json(format='keras'), 'not a fastbird model description', ('onnx', 'torch')),
    'no outputs': (_edit_json(outputs=...), 'lacks outputs', ('onnx', 'torch')),
    'an unknown key': (_edit_json(features='stages, length 1'), "keys the format doesn't have (features)", ('onnx', 'torch')),
    'an unknown head': (_edit_json(head='conv'), "unknown head 'conv'", ('onnx', 'torch')),
    'an unknown backbone': (_edit_json(arch='resnet50'), "names the backbone 'resnet50', which this fastbird can't build",
                            ('torch',)),
    'no backbone': (_edit_json(arch=18), 'names no backbone', ('onnx', 'torch')),
    'one label': (_edit_json(labels=['bird']), 'two or more different label names', ('onnx', 'torch')),
    'a size of text': (_edit_json(size='96'), 'no size in pixels', ('onnx', 'torch')),
    'two means': (_edit_json(mean=[0.5, 0.5]), '3 means and 3 positive standard deviations', ('onnx', 'torch')),
    'a zero std': (_edit_json(std=[0.5, 0, 0.5]), '3 means and 3 positive standard deviations', ('onnx', 'torch')),
    'an unknown filter': (_edit_json(interpolation='lanczos'), "unknown interpolation 'lanczos'", ('onnx', 'torch')),
    'a tta of text': (_edit_json(tta='yes'), 'neither true nor false', ('onnx', 'torch')),
    'unknown weights': (_edit_json(weights='body'), "unknown weights 'body'", ('onnx', 'torch')),
    'all the weights said, a head given': (_edit_json(weights='all'), "doesn't hold the tensors of the whole network",
                                           ('onnx', 'torch')),
    'more labels than outputs': (_edit_json(labels=['bird', 'forest', 'plane']), '2 probabilities for 3 labels',
                                 ('onnx', 'torch')),
    'outputs of another graph': (_edit_json(outputs={'probs': 2, 'features': 1280}), 'not the float16 ref (16, 1280)',
                                 ('onnx', 'torch')),
    'outputs of another graph, no features': (lambda d: (_edit_json(outputs={'probs': 2, 'features': 1280}, familiarity=...)(d),
                                                         (d/'familiar.safetensors').unlink()), None, ('onnx', 'torch')),
    'not JSON': (lambda d: (d/'model.json').write_text('{"labels": '), 'not valid JSON', ('onnx', 'torch')),
    'weights cut short': (_cut('model.safetensors', 5000), 'damaged or not a safetensors file', ('onnx', 'torch')),
    'weights not safetensors': (lambda d: torch.save({'w': torch.zeros(3)}, d/'model.safetensors'),
                                'damaged or not a safetensors file', ('onnx', 'torch')),
    'a graph cut short': (_cut('model.onnx', 3000), 'not an ONNX graph', ('onnx',)),
    'no graph': (lambda d: (d/'model.onnx').unlink(), 'model.onnx missing', ('onnx', 'torch')),
    'no weights': (lambda d: (d/'model.safetensors').unlink(), 'model.safetensors missing', ('onnx', 'torch')),
    'familiarity without its file': (lambda d: (d/'familiar.safetensors').unlink(), 'familiar.safetensors is missing',
                                     ('onnx', 'torch')),
    'a features file without its entry': (_edit_json(familiarity=...), 'model.json says nothing of it', ('onnx', 'torch')),
    'familiarity of text': (lambda d: _edit_json(familiarity={**_meta(d)['familiarity'], 'k': '3'})(d),
                            'has no familiarity', ('onnx', 'torch')),
    'features of another model': (lambda d: _edit_json(familiarity={**_meta(d)['familiarity'], 'photos': 3})(d),
                                  'not of the same model', ('onnx', 'torch')),
}

@pytest.mark.parametrize('case', list(BROKEN))
def test_any_other_folder_is_refused_in_one_line(trained, tmp_path, case):
    change, says, engines = BROKEN[case]
    d = Path(shutil.copytree(trained[0].model_dir, tmp_path/'model'))
    change(d)
    for engine in engines:
        with pytest.raises(M.ModelFileError) as e: M.load_classifier(d, engine)
        msg = str(e.value)
        assert '\n' not in msg and (says or ('not the graph' if engine=='onnx' else 'features are')) in msg, msg
        assert any(w in msg for w in ('again', 'upgrade', 'Copy', 'give')), f'says what to do: {msg}'
    for engine in {'onnx', 'torch'} - set(engines): assert M.load_classifier(d, engine).engine == engine

def test_tensors_other_than_the_weights_say_are_refused(trained, tmp_path):
    "A head's tensors of another shape, or a name too many, are refused by both engines."
    from safetensors.torch import save_file
    src = trained[0].model_dir
    head = {'1.2.weight': torch.zeros(2, 1280), '1.2.bias': torch.zeros(2)}
    for name, tensors, says in [('wider', {**head, '1.2.weight': torch.zeros(2, 512)}, 'size mismatch'),
                                ('extra', {**head, '1.3.weight': torch.zeros(2)}, "doesn't hold only the head's"),
                                ('three', {'1.2.weight': torch.zeros(3, 1280), '1.2.bias': torch.zeros(3)}, '2 labels')]:
        d = Path(shutil.copytree(src, tmp_path/name))
        save_file(tensors, d/'model.safetensors')
        with pytest.raises(M.ModelFileError, match=says): M.load_classifier(d, 'torch')
        if name != 'wider':  # the graph doesn't read the weights file: only its names and the head's rows are checked
            with pytest.raises(M.ModelFileError, match="doesn't hold"): M.load_classifier(d)

def test_other_folders_are_named(trained, tmp_path):
    with pytest.raises(M.ModelFileError, match='No model folder'): M.load_classifier(tmp_path/'nope')
    with pytest.raises(ValueError, match='Unknown engine'): M.load_classifier(trained[0].model_dir, engine='tensorflow')
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
    with pytest.raises(ValueError, match="use 'probe' or 'lesson'"): L.train(tmp_path/'only', tmp_path/'m', recipe='fastbird')

# The lesson's recipe

def test_lesson_recipe_logs_plain_lines(tmp_path, capsys, birds):
    """16 photos, fewer than a batch of 32: every epoch still trains on a batch, with a finite loss that falls.
    Under pytest stdout is not a terminal: training prints a line per epoch, and no redrawn bars."""
    d = small_copy(birds, tmp_path/'data', n=8)
    res = L.train(d, tmp_path/'m', arch=ARCH, recipe='lesson', size=32, epochs=3)
    out = capsys.readouterr().out
    assert '\r' not in out and out.count('epoch 1/1:') == 1 and out.count('epoch 3/3:') == 1, out
    assert 'nan' not in out, out
    assert len(res.losses) == 4 and all(np.isfinite(res.losses)) and res.losses[-1] < res.losses[0], res.losses
    assert (res.model.head, res.model.weights) == ('fastai', 'all')
    m = M.load_classifier(tmp_path/'m')
    f = sorted((d/'bird').iterdir())[0]
    assert m.engine == 'onnx' and M.predict(m, f).probs == pytest.approx(M.predict(res.model, f).probs, abs=1e-5)

def test_the_same_seed_trains_the_same_model(tmp_path, birds):
    "The lesson's recipe twice in one process with one seed: the same model; with another seed, another."
    d = small_copy(birds, tmp_path/'data', n=3)
    def weights(seed, name):
        res = L.train(d, tmp_path/name, arch=ARCH, recipe='lesson', size=32, epochs=1, seed=seed, verbose=False)
        return res.model.net.state_dict()
    a, b, c = weights(42, 'a'), weights(42, 'b'), weights(7, 'c')
    assert all(torch.equal(a[k], b[k]) for k in a), 'one seed, two models'
    assert not all(torch.equal(a[k], c[k]) for k in a)

def test_the_lesson_recipe_keeps_the_lessons_size(tmp_path, birds, monkeypatch):
    "Without `size`, the lesson's recipe squishes photos to the lesson's 192 pixels (the probe, to its backbone's size)."
    class Asked(Exception): pass
    def fine_tune(data_dir, arch, size, *args): raise Asked(size)  # stops `train` where it would start fine-tuning
    monkeypatch.setattr(L, '_fine_tuned', fine_tune)
    with pytest.raises(Asked) as e: L.train(small_copy(birds, tmp_path/'data', n=3), tmp_path/'m', arch=ARCH, recipe='lesson')
    assert e.value.args == (L.LESSON_SIZE,) == (192,) and BACKBONES[ARCH].size != 192

# Junk and the widgets

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
    grey = tmp_path/'grey.png'; Image.new('RGB', (300, 200), 'grey').save(grey)
    def item(name, data): return Bunch(name=name, type='image/jpeg', size=len(data), content=memoryview(data),
                                       last_modified=datetime.now(timezone.utc))
    w.uploader.value = (item('mine.jpg', f.read_bytes()), item('page.jpg', b'<html></html>'), item('grey.png', grey.read_bytes()))
    p, q = M.predict(res.model, f), M.predict(res.model, grey)
    assert f"mine.jpg</b>: This is a: {p.label}. Probability it's a bird: {p.probs['bird']:.4f}" in w.answer.value
    assert 'page.jpg</b>: not an image' in w.answer.value
    assert (f"grey.png</b>: doesn't look like any of: bird, forest. (If it had to choose: {q.label}. Probability it's a "
            f"bird: {q.probs['bird']:.4f})") in w.answer.value, w.answer.value

# Round trips of what a model reads photos with

@pytest.mark.parametrize('head', ['linear', 'fastai'])
def test_resnet18_models_round_trip(tmp_path, head, birds):
    "A resnet18 model (as trained where its weights can be downloaded) saves and loads offline, on both engines."
    bb = BACKBONES['resnet18']
    assert bb.mean != bb.std
    m = M.Classifier(['bird', 'forest'], 'resnet18', head, 64, bb.mean, bb.std, bb.interpolation,
                     net=M.build_net('resnet18', head, 2).eval())
    d = M.save_classifier(m, tmp_path/'r18')
    f = sorted((birds/'bird').iterdir())[0]
    for engine in ('onnx', 'torch'):
        back = M.load_classifier(d, engine)
        assert (back.arch, back.head, back.engine) == ('resnet18', head, engine)
        assert (back.mean, back.std) == (m.mean, m.std) and back.stats == bb.stats
        assert M.predict(back, f).probs == pytest.approx(M.predict(m, f).probs, abs=1e-5)

def test_what_a_model_reads_photos_with_round_trips(tmp_path, birds):
    "Made-up statistics, each channel its own, mean and std apart, and another filter: the loaded model reads as saved."
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
