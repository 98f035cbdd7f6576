"""The familiarity check (a model that can say "neither"): its score and threshold on made-up features, the share of
new photos of a model's own labels it flags, a saved model folder on both engines, folders whose features are
missing or not theirs, both training recipes, and what `fastbird predict` prints for a photo unlike the training
photos. Real photos come from the `birds` and `pets` fixtures (FASTBIRD_DATA)."""
import json, math, shutil
from pathlib import Path
import numpy as np, pytest
from PIL import Image
from fastbird import model as M
from fastbird.data import split_files
from fastbird.learner import train
from command import fb
from photos import ARCH, small_copy

LABELS = ('bird', 'forest')

# Scores and threshold, where the right answer is known

def test_knn_and_leave_one_out_scores():
    ref = M.familiar_features(np.array([[3., 0, 0], [0, 2, 0], [0, 0, 1], [1, 1, 0]]))
    assert np.allclose(np.linalg.norm(ref, axis=1), 1)
    x = M.familiar_features(np.array([[2., 0, 0], [0, 0, 5]]))
    c = 2**-0.5  # the cosine of 45 degrees: [1, 0, 0] against [1, 1, 0]
    assert M.knn_similarity(x, ref, k=1) == pytest.approx([1, 1])
    assert M.knn_similarity(x, ref, k=2) == pytest.approx([(1+c)/2, 0.5])
    assert M.knn_similarity(x, ref, k=10) == pytest.approx([(1+c)/4, 0.25])  # k beyond the photos: all of them
    assert M.loo_similarity(ref, k=1) == pytest.approx([c, c, 0, c])  # never a photo's own similarity of 1
    assert M.loo_similarity(ref[:2], k=5) == pytest.approx([0, 0])

def clouds(rng, centres, n, d=32):
    "Non-negative made-up features around some of `centres`."
    return np.maximum(centres[rng.integers(len(centres), size=n)] + rng.normal(0, 1, (n, d)), 0)

def test_threshold_is_the_quantile_of_the_training_photos():
    rng = np.random.default_rng(1)
    centres = rng.random((8, 32))**4 * 8
    X = clouds(rng, centres[:5], 500)
    fam = M.calibrate_familiarity(X, k=3, quantile=0.05)
    assert fam.ref.dtype == np.float32 and np.array_equal(fam.ref, fam.ref.astype(np.float16).astype(np.float32))
    assert fam.threshold == pytest.approx(np.quantile(M.loo_similarity(fam.ref, 3), 0.05))
    assert (M.loo_similarity(fam.ref, 3) < fam.threshold).mean() == pytest.approx(0.05, abs=0.005)
    assert 1 - fam.known(clouds(rng, centres[:5], 3000)).mean() == pytest.approx(0.05, abs=0.02)  # new, of known kinds
    assert not fam.known(clouds(rng, centres[5:], 300)).any()  # kinds it never saw
    assert M.calibrate_familiarity(X, quantile=0.2).threshold > M.calibrate_familiarity(X, quantile=0.01).threshold

def test_calibration_limits():
    rng = np.random.default_rng(2)
    X = rng.random((50, 16))
    a, b = M.calibrate_familiarity(X, max_photos=20), M.calibrate_familiarity(X, max_photos=20)
    assert len(a.ref) == 20 and np.array_equal(a.ref, b.ref)  # a sample, the same one every time
    assert len(M.calibrate_familiarity(X[:2]).ref) == 2
    with pytest.raises(ValueError, match='at least 2'): M.calibrate_familiarity(X[:1])
    with pytest.raises(ValueError, match="can't be compared"): a.similarity(np.ones((1, 8)))

BAR = 0.05  # what the check promises: at most 5% of new photos of a model's own labels flagged (06_model's table)

def test_new_photos_of_its_labels_are_flagged_at_about_the_quantile(pets, tmp_path):
    """A model trained on the lesson's split of the cats and dogs flags about `FAMILIAR_QUANTILE` of its held-out photos:
    they are like its training photos, which the threshold leaves that share of below it; and so few of them, whatever
    the photos, as the check promises. The slack is three standard deviations of the share flagged among that many
    photos (48: at most 4 photos at the 2% quantile, 6 for the 5% bar)."""
    res = train(pets, tmp_path/'model', arch=ARCH, size=64, refit=False, verbose=False)
    _, val = split_files(pets)
    q, n = res.model.familiar.quantile, len(val)
    assert q == M.FAMILIAR_QUANTILE
    flagged = sum(not p.known for p in M.predictions(res.model, val))
    def slack(p): return 3*math.sqrt(p*(1-p)/n)
    said = f'{flagged} of {n} new photos of its labels flagged, at the {q:.0%} quantile'
    assert abs(flagged/n - q) <= slack(q) and flagged/n <= BAR + slack(BAR), said

# A saved model folder, on real photos

@pytest.fixture(scope='module')
def unfamiliar(tmp_path_factory):
    "A plain grey square and a picture of random noise: unlike any photo of a bird or a forest."
    d = tmp_path_factory.mktemp('unfamiliar')
    Image.new('RGB', (300, 200), 'grey').save(d/'grey.png')
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8)).save(d/'noise.png')
    return [d/'grey.png', d/'noise.png']

def test_saved_with_the_model(trained):
    res, d = trained
    m = res.model_dir
    meta = json.loads((m/'model.json').read_text())
    fam, width = meta['familiarity'], meta['outputs']['features']
    assert (fam['photos'], fam['k'], fam['quantile']) == (16, M.FAMILIAR_K, M.FAMILIAR_QUANTILE)  # refit: every photo
    assert fam['threshold'] == pytest.approx(res.model.familiar.threshold)
    assert set(fam) == {'photos', 'k', 'quantile', 'threshold'}
    assert (m/'familiar.safetensors').stat().st_size < 16*width*2 + 1024  # float16 features and a small header
    assert M.load_classifier(m).familiar.ref.shape == (16, width)

def test_engines_agree(trained, unfamiliar, pets):
    "The ONNX graph's features and the torch network's give the same similarities, so the same photos are flagged."
    res, d = trained
    photos = [sorted((d/l).iterdir())[0] for l in LABELS] + unfamiliar + sorted((pets/'cat').iterdir())[:3]
    onnx, torch_ = M.load_classifier(res.model_dir, 'onnx'), M.load_classifier(res.model_dir, 'torch')
    assert onnx.engine == 'onnx' and torch_.engine == 'torch'
    a, b, c = (M.predictions(m, photos) for m in (onnx, torch_, res.model))
    assert [p.similarity for p in a] == pytest.approx([p.similarity for p in b], abs=1e-3)
    assert [p.similarity for p in a] == pytest.approx([p.similarity for p in c], abs=1e-3)
    assert [p.known for p in a] == [p.known for p in b] == [p.known for p in c]
    assert [p.known for p in a][:4] == [True, True, False, False]  # two training photos; the square and the noise
    for p, f in zip(a, photos):  # one photo at a time, the same answer
        q = M.predict(onnx, f)
        assert (p.label, p.known) == (q.label, q.known) and p.similarity == pytest.approx(q.similarity, abs=1e-5)
    assert np.allclose([[p.probs[l] for l in onnx.labels] for p in a], M.predict_batch(onnx, photos), atol=1e-6)

def test_most_pets_are_flagged(trained, pets):
    "Even a model of 8 photos a label flags most cats and dogs (bench/familiar.py measures the whole sets)."
    res, d = trained
    strangers = [f for l in ('cat', 'dog') for f in sorted((pets/l).iterdir())[:10]]
    assert np.mean([not p.known for p in M.predictions(res.model, strangers)]) > 0.5

def test_a_model_saved_without_it_says_nothing(trained, unfamiliar, tmp_path):
    "A model saved with no `familiar` (made without features): its folder has no features file, its answers no `known`."
    res, d = trained
    old = M.save_classifier(M.Classifier(**{**res.model.__dict__, 'familiar': None}), tmp_path/'none')
    assert not (old/'familiar.safetensors').exists() and 'familiarity' not in json.loads((old/'model.json').read_text())
    m = M.load_classifier(old)
    p = M.predict(m, unfamiliar[0])
    assert m.familiar is None and (p.known, p.similarity) == (None, None)
    assert p.probs == pytest.approx(M.predict(res.model, unfamiliar[0]).probs, abs=1e-5)
    r = fb('predict', str(old), str(unfamiliar[0]), '--json')
    assert r.returncode == 0, r.stderr
    assert set(json.loads(r.stdout)) == {'image', 'label', 'probs'}

def test_saving_without_it_removes_a_stale_file(trained, tmp_path):
    res, d = trained
    m = M.load_classifier(Path(shutil.copytree(res.model_dir, tmp_path/'again')), 'torch')
    m.familiar = None
    M.save_classifier(m, tmp_path/'again')
    assert not (tmp_path/'again'/'familiar.safetensors').exists() and M.load_classifier(tmp_path/'again').familiar is None

def test_a_features_file_without_the_features_is_refused(trained, tmp_path):
    from safetensors.numpy import save_file
    res, d = trained
    width = json.loads((res.model_dir/'model.json').read_text())['outputs']['features']
    bad = Path(shutil.copytree(res.model_dir, tmp_path/'bad'))
    save_file({'other': np.ones((16, width), np.float16)}, bad/'familiar.safetensors')  # safetensors, but no 'ref'
    with pytest.raises(M.ModelFileError, match="not the float16 ref"): M.load_classifier(bad)
    save_file({'ref': np.ones((16, width), np.float32)}, bad/'familiar.safetensors')  # float32
    with pytest.raises(M.ModelFileError, match="not the float16 ref"): M.load_classifier(bad)

def test_cli_says_neither(trained, unfamiliar):
    res, d = trained
    bird = sorted((d/'bird').iterdir())[0]
    r = fb('predict', str(res.model_dir), str(unfamiliar[0]), str(unfamiliar[1]), str(bird))
    assert r.returncode == 0, r.stderr
    square, noise, known = r.stdout.splitlines()
    p = M.predict(res.model, unfamiliar[0])
    assert square == (f"{unfamiliar[0]}: doesn't look like any of: bird, forest (if it had to choose: {p.label}; "
                      f"bird {p.probs['bird']:.4f}, forest {p.probs['forest']:.4f})")
    assert noise.startswith(f"{unfamiliar[1]}: doesn't look like any of: bird, forest (if it had to choose: ")
    assert known.split(': ', 1)[1].split(' ', 1)[0] in LABELS and "doesn't look" not in known
    r = fb('predict', str(res.model_dir), str(unfamiliar[0]), str(bird), '--json')
    a, b = map(json.loads, r.stdout.splitlines())
    assert (a['known'], b['known']) == (False, True) and a['label'] in LABELS and set(a['probs']) == set(LABELS)
    assert a['similarity'] == pytest.approx(p.similarity, abs=1e-4) and a['similarity'] < res.model.familiar.threshold <= b['similarity']

def test_lesson_recipe_uses_its_fine_tuned_body(tmp_path, birds):
    "The lesson's recipe calibrates on its own fine-tuned body's features of its training photos, not the pretrained ones."
    from fastbird.backbones import image_features
    d = small_copy(birds, tmp_path/'data', n=4)
    res = train(d, tmp_path/'model', arch=ARCH, recipe='lesson', size=32, epochs=1, verbose=False)
    trn, _ = split_files(d)
    fam = M.load_classifier(res.model_dir).familiar
    assert len(fam.ref) == res.n_train == len(trn)
    own = M.familiar_features(M.model_outputs(res.model, trn)[1])
    assert np.abs(fam.ref - own).max() < 2e-3  # float16
    pretrained = M.familiar_features(image_features(trn, ARCH, size=32, stages=True)[1].numpy())
    assert np.abs(fam.ref - pretrained).max() > 0.05
