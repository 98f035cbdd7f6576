"""Bad inputs and an end-to-end check for the measuring helpers that nbs/further/00_why.ipynb uses (fastbird.handcrafted,
probing, curves and costs), on images written to a temporary folder."""
import numpy as np, pytest, torch
from PIL import Image
from torch import nn
from fastai.data.transforms import RandomSplitter, get_image_files, parent_label
from fastbird.data import split_files
from fastbird.images import ImageReadError
from fastbird.handcrafted import _small, handcrafted_features, fit_accuracy
from fastbird.probing import layer_activations, receptive_field
from fastbird.curves import learning_curve, sample_per_label, curve_sizes, curve_summary, first_reaching
from fastbird.costs import measure

def labelled(folder):
    "The image files under `folder`, in `get_image_files` order, and their labels (the folder names), as notebook 00 makes them."
    files = list(get_image_files(folder))
    return files, np.array([parent_label(f) for f in files])

def positions(files, part):
    "Positions in `files` of the files of `part`, one split from `split_files`, as notebook 00 makes them."
    return np.array([files.index(f) for f in part], dtype=int)

@pytest.fixture
def colours(tmp_path):
    "A folder of 6 noisy reddish and 6 noisy bluish JPEG photos, one sub-folder per label."
    rng = np.random.default_rng(0)
    for label, base in (('red', (200, 40, 40)), ('blue', (40, 40, 200))):
        (tmp_path/label).mkdir()
        for i in range(6):
            a = np.clip(np.array(base) + rng.normal(0, 30, (48, 64, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(a).save(tmp_path/label/f'{i}.jpg')
    return tmp_path

def half_split(y):
    "Indices of the first 3 photos of each label to train on, the other 3 to validate on."
    trn = np.concatenate([np.flatnonzero(y == l)[:3] for l in np.unique(y)])
    return trn, np.setdiff1d(np.arange(len(y)), trn)

def test_colours_are_learned_from_two_photos_per_label(colours):
    files, y = labelled(colours)
    assert len(files) == 12 and set(y) == {'red', 'blue'}
    X = handcrafted_features(files, size=32)
    assert X.shape == (12, 4**3 + 9*4 + 2)
    trn, val = half_split(y)
    curve = learning_curve(X, y, trn, val, sizes=(2, None), draws=3)
    assert list(curve.per_label) == ['2', '2', '2', 'all']
    assert (curve.accuracy == 1).all()
    assert first_reaching(curve, 0.95) == '2'
    assert list(curve_summary(curve).draws) == [3, 1]

def test_the_lessons_split(colours):
    "split_files over get_image_files' list picks the photos the lesson's DataBlock validates on, and positions in that list follow."
    files, y = labelled(colours)
    trn_files, val_files = split_files(files)
    trn, val = positions(files, trn_files), positions(files, val_files)
    want_trn, want_val = RandomSplitter(valid_pct=0.2, seed=42)(get_image_files(colours))
    assert list(trn) == list(want_trn) and list(val) == list(want_val)
    assert split_files(colours) == (trn_files, val_files)  # a folder splits as its list of files does
    assert len(val) == 2 and sorted(np.r_[trn, val]) == list(range(12))
    one = files[:1]  # a split needs at least 2 photos: one photo leaves nothing to validate on
    X = handcrafted_features(one, size=16)
    with pytest.raises(ValueError, match='validation split is empty'): fit_accuracy(X, y[:1], *(positions(one, p) for p in split_files(one)))

def test_curve_sizes_fit_the_smallest_label():
    y = np.array(['a'] * 30 + ['b'] * 7)
    assert curve_sizes(y, np.arange(len(y))) == (2, 5, None)
    assert curve_sizes(y, np.arange(len(y)), candidates=(2, 7, 8)) == (2, 7, None)
    assert curve_sizes(np.array(['a', 'b']), [0, 1]) == (None,)
    with pytest.raises(ValueError, match='empty'): curve_sizes(y, [])
    # every size it gives can be drawn
    for n in curve_sizes(y, np.arange(len(y)))[:-1]: assert len(sample_per_label(y, np.arange(len(y)), n, np.random.default_rng(0))) == 2 * n

def test_html_served_as_jpeg_is_named_in_the_error(colours):
    bad = colours/'red'/'page.jpg'
    bad.write_text('<html><body>Access denied</body></html>')
    with pytest.raises(ImageReadError, match='page.jpg'): _small(bad)
    files, _ = labelled(colours)
    with pytest.raises(ValueError, match="Can't read .*page.jpg as an image"): handcrafted_features(files)

def test_empty_inputs(tmp_path):
    with pytest.raises(ValueError, match='No files given'): handcrafted_features(get_image_files(tmp_path))  # an empty folder
    with pytest.raises(ValueError, match='No files given'): handcrafted_features([])

def test_bad_splits(colours):
    files, y = labelled(colours)
    X = handcrafted_features(files, size=16)
    trn, val = half_split(y)
    with pytest.raises(ValueError, match="Label '(blue|red)' has only 3 training images, fewer than the 4"):
        learning_curve(X, y, trn, val, sizes=(4,))
    with pytest.raises(ValueError, match='validation split is empty'): fit_accuracy(X, y, trn, [])
    with pytest.raises(ValueError, match='training split is empty'): fit_accuracy(X, y, [], val)
    with pytest.raises(ValueError, match='only one label'): fit_accuracy(X, y, trn[y[trn] == 'red'], val)
    y3 = y.astype(object); y3[val[-1]] = 'green'
    with pytest.raises(ValueError, match=r"\['green'\] never appear in the training split"): fit_accuracy(X, y3, trn, val)
    with pytest.raises(ValueError, match='in both'): fit_accuracy(X, y, trn, trn)
    with pytest.raises(ValueError, match='at least 1'): sample_per_label(y, trn, 0, np.random.default_rng(0))

def test_torch_helpers_take_one_device_and_return_cpu_results():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 3, stride=2, padding=1)).eval()
    x = torch.randn(5, 3, 8, 8)
    got = layer_activations(net, {'first': net[0], 'last': net[2]}, x, bs=2, device='cpu')
    assert {n: tuple(a.shape) for n, a in got.items()} == {'first': (5, 4, 8, 8), 'last': (5, 2, 4, 4)}
    assert all(a.device.type == 'cpu' for a in got.values())
    with torch.no_grad(): torch.testing.assert_close(got['last'], net(x))
    torch.testing.assert_close(layer_activations(net, {'last': net[2]}, x, bs=2)['last'], got['last'])  # default device: a GPU if any, results on the CPU
    assert net[0]._forward_hooks == {}  # hooks are removed afterwards
    strided = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.Conv2d(4, 4, 3, padding=1))  # 3 steps of 2 px + 3x3
    assert receptive_field(strided, strided[1], 16, device='cpu') == 7 == receptive_field(strided, strided[1], 16)
    assert strided[0].weight.grad is None  # the model's own gradients are left alone
    with pytest.raises(ValueError, match='not part of the model'): layer_activations(net, {'x': nn.ReLU()}, x)
    with pytest.raises(ValueError, match='never ran'): receptive_field(net, nn.ReLU(), 16)

def test_measure_counts_time_and_the_memory_a_step_adds():
    "A step that holds 200 MiB for a while adds about that to the process's peak; a step that holds nothing adds little."
    import time
    mib = 200
    with measure('hold 200 MiB', images=5) as c:
        a = np.ones(mib * 2**20 // 8); a[:] = 2  # written to, so the pages are really there
        time.sleep(0.1)  # the sampler looks every 5 ms
        del a
    with measure('hold nothing') as idle: time.sleep(0.1)
    assert c.seconds >= 0.1 and c.peak_mb - c.start_mb >= 0.9*mib, c
    assert idle.peak_mb - idle.start_mb < 0.5*mib, idle
    assert abs(c.per_second - 5 / c.seconds) < 1e-9
    m = measure('start and stop', images=0)
    c2 = m.start(); time.sleep(0.01); assert m.stop() is c2 and c2.seconds >= 0.01 and c2.per_second is None
    with pytest.raises(ValueError, match='interval'): measure('x', interval=0)
