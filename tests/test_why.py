"Bad inputs and an end-to-end check for the measuring helpers of nbs/00_why.ipynb, on images written to a temporary folder."
import numpy as np, pytest
from PIL import Image
from fastbird.why import (labelled_images, load_small, handcrafted_features, fit_accuracy, learning_curve,
                          sample_per_label, curve_summary, first_reaching, measure)

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

def test_colours_are_learned_from_two_photos_per_label(colours):
    files, y = labelled_images(colours)
    assert len(files) == 12 and set(y) == {'red', 'blue'}
    X = handcrafted_features(files, size=32)
    assert X.shape == (12, 4**3 + 9*4 + 2)
    trn, val = np.r_[0:3, 6:9], np.r_[3:6, 9:12]
    curve = learning_curve(X, y, trn, val, sizes=(2, None), draws=3)
    assert list(curve.per_label) == ['2', '2', '2', 'all']
    assert (curve.accuracy == 1).all()
    assert first_reaching(curve, 0.95) == '2'
    assert list(curve_summary(curve).draws) == [3, 1]

def test_html_served_as_jpeg_is_named_in_the_error(colours):
    bad = colours/'red'/'page.jpg'
    bad.write_text('<html><body>Access denied</body></html>')
    with pytest.raises(ValueError, match='page.jpg'): load_small(bad)
    files, _ = labelled_images(colours)
    with pytest.raises(ValueError, match='Cannot read .*page.jpg'): handcrafted_features(files)

def test_empty_inputs(tmp_path):
    with pytest.raises(ValueError, match='No images found'): labelled_images(tmp_path)
    with pytest.raises(ValueError, match='No files given'): handcrafted_features([])

def test_bad_splits(colours):
    files, y = labelled_images(colours)
    X = handcrafted_features(files, size=16)
    trn, val = np.r_[0:3, 6:9], np.r_[3:6, 9:12]
    with pytest.raises(ValueError, match="Label '(blue|red)' has only 3 training images, fewer than the 4"):
        learning_curve(X, y, trn, val, sizes=(4,))
    with pytest.raises(ValueError, match='validation split is empty'): fit_accuracy(X, y, trn, [])
    with pytest.raises(ValueError, match='training split is empty'): fit_accuracy(X, y, [], val)
    with pytest.raises(ValueError, match='only one label'): fit_accuracy(X, y, np.r_[0:3], val)
    y3 = y.astype(object); y3[11] = 'green'
    with pytest.raises(ValueError, match=r"\['green'\] never appear in the training split"): fit_accuracy(X, y3, trn, val)
    with pytest.raises(ValueError, match='in both'): fit_accuracy(X, y, trn, trn)
    with pytest.raises(ValueError, match='at least 1'): sample_per_label(y, trn, 0, np.random.default_rng(0))

def test_measure_counts_time_and_memory():
    with measure('sleep and allocate', images=5) as c:
        a = np.ones(100 * 2**20 // 8); a[:] = 2
        import time; time.sleep(0.02)
        del a
    assert c.seconds >= 0.02 and c.peak_mb > 100
    assert abs(c.per_second - 5 / c.seconds) < 1e-9
    with pytest.raises(ValueError, match='interval'): measure('x', interval=0)
