"Edge cases of the folder check (`fastbird.data.check_image_folder`) and the lesson's split (`split_files`) that would clutter the DataBlock notebook."
import os
from pathlib import Path

import pytest
from PIL import Image

from fastbird.data import DataError, check_image_folder, split_files
from fastbird.images import image_problem
from fastbird.loaders import lesson_dataloaders

def photos(root, counts, size=(40, 30), fmt='JPEG', mode='RGB'):
    "Make `root/label/i.<ext>` with `counts[label]` generated pictures."
    ext = {'JPEG': 'jpg', 'PNG': 'png', 'WEBP': 'webp', 'GIF': 'gif'}[fmt]
    for i, (lbl, n) in enumerate(counts.items()):
        (root/lbl).mkdir(parents=True, exist_ok=True)
        for j in range(n): Image.new(mode, size, (40*i+j) % 256 if mode in ('L', 'P') else (40*i, 30*j % 256, 90)).save(root/lbl/f'{j}.{ext}', fmt)
    return root

def test_labels_sorted_and_complete(tmp_path):
    photos(tmp_path, {'zebra': 2, 'ant': 3})
    labels = check_image_folder(tmp_path)
    assert list(labels) == ['ant', 'zebra']
    assert sorted(p.name for p in labels['ant']) == ['0.jpg', '1.jpg', '2.jpg']
    assert all(isinstance(p, Path) and p.is_file() for ps in labels.values() for p in ps)

def test_other_formats_and_modes_are_fine(tmp_path):
    photos(tmp_path, {'a': 2}, fmt='PNG', mode='RGBA')
    photos(tmp_path, {'b': 2}, fmt='PNG', mode='L')
    photos(tmp_path, {'c': 2}, fmt='GIF', mode='P')
    photos(tmp_path, {'d': 2}, fmt='WEBP')
    assert {k: len(v) for k, v in check_image_folder(tmp_path).items()} == {'a': 2, 'b': 2, 'c': 2, 'd': 2}

def test_non_images_and_hidden_folders_are_ignored(tmp_path):
    "Notes, URL lists and hidden folders (where a quarantine might put broken files) are not photos and not labels."
    photos(tmp_path, {'bird': 2, 'forest': 2})
    (tmp_path/'bird'/'urls.txt').write_text('https://example.com/1.jpg\n')
    (tmp_path/'.quarantine'/'bird').mkdir(parents=True)
    (tmp_path/'.quarantine'/'bird'/'broken.jpg').write_bytes(b'\xff\xd8\xff')
    (tmp_path/'bird'/'.DS_Store').write_bytes(b'\0\0\0\1Bud1')
    assert {k: len(v) for k, v in check_image_folder(tmp_path).items()} == {'bird': 2, 'forest': 2}

def test_truncated_png_and_jpeg_are_found(tmp_path):
    photos(tmp_path, {'a': 3}, size=(300, 200), fmt='PNG')
    photos(tmp_path, {'b': 3}, size=(300, 200))
    for f in (tmp_path/'a'/'0.png', tmp_path/'b'/'0.jpg'): f.write_bytes(f.read_bytes()[:len(f.read_bytes())//2])
    with pytest.raises(DataError) as e: check_image_folder(tmp_path)
    msg = str(e.value)
    assert msg.startswith('2 of 6 files') and 'a/0.png' in msg and 'b/0.jpg' in msg
    assert 'a/1.png' not in msg and 'Delete them' in msg
    (tmp_path/'.quarantine').mkdir()
    for f in (tmp_path/'a'/'0.png', tmp_path/'b'/'0.jpg'): f.rename(tmp_path/'.quarantine'/f'{f.parent.name}-{f.name}')
    assert {k: len(v) for k, v in check_image_folder(tmp_path).items()} == {'a': 2, 'b': 2}, 'the advice works'

def test_many_broken_files_are_summarised(tmp_path):
    photos(tmp_path, {'a': 2, 'b': 2})
    for i in range(13): (tmp_path/'a'/f'x{i:02}.jpg').write_text('<!DOCTYPE html><html></html>')
    with pytest.raises(DataError) as e: check_image_folder(tmp_path)
    msg = str(e.value)
    assert msg.startswith('13 of 17 files') and '... and 3 more' in msg
    assert msg.count('a web page') == 10

def test_image_problem_reasons(tmp_path):
    "The reason a file is not a readable image, as the folder check's message gives it."
    (tmp_path/'empty.jpg').touch()
    (tmp_path/'page.jpg').write_text('\n  <html><body>Forbidden</body></html>')
    (tmp_path/'noise.jpg').write_bytes(os.urandom(2000))
    Image.new('RGB', (10, 10)).save(tmp_path/'ok.jpg')
    (tmp_path/'cut.jpg').write_bytes((tmp_path/'ok.jpg').read_bytes()[:100])
    assert image_problem(tmp_path/'empty.jpg') == 'empty file'
    assert image_problem(tmp_path/'page.jpg') == 'not an image (HTML: a web page saved under an image name)'
    assert image_problem(tmp_path/'noise.jpg') == 'not an image (unknown data)'
    assert image_problem(tmp_path/'cut.jpg').startswith('corrupt image (')
    assert image_problem(tmp_path/'ok.jpg') is None
    d = tmp_path/'data'
    photos(d, {'a': 2, 'b': 2})
    for f in ('empty.jpg', 'page.jpg', 'cut.jpg'): (tmp_path/f).rename(d/'a'/f)
    with pytest.raises(DataError) as e: check_image_folder(d)
    assert '  a/page.jpg: not an image (HTML: a web page saved under an image name)\n' in str(e.value)
    assert '  a/empty.jpg: empty file\n' in str(e.value) and '  a/cut.jpg: corrupt image (' in str(e.value)

def test_unreadable_file_is_named(tmp_path):
    "A file that can't be opened at all (here a link to a photo that was moved away) is named with the reason."
    photos(tmp_path, {'a': 2, 'b': 2})
    (tmp_path/'a'/'gone.jpg').symlink_to(tmp_path/'elsewhere.jpg')
    with pytest.raises(DataError, match=r'a/gone\.jpg: no such file'): check_image_folder(tmp_path)

def test_min_per_label_boundary(tmp_path):
    photos(tmp_path, {'a': 3, 'b': 2})
    check_image_folder(tmp_path, min_per_label=2)
    with pytest.raises(DataError, match=r"'b' \(2\).*at least 3"): check_image_folder(tmp_path, min_per_label=3)

def test_nested_folders_take_the_innermost_name(tmp_path):
    "The label is the folder an image is in, as fastai's `parent_label` has it: the check reports what training will see."
    photos(tmp_path/'bird', {'sparrow': 2, 'robin': 2})
    photos(tmp_path, {'forest': 2})
    assert list(check_image_folder(tmp_path)) == ['forest', 'robin', 'sparrow']

def test_dataloaders_check_first(tmp_path):
    "`lesson_dataloaders` refuses a bad folder before building anything."
    photos(tmp_path, {'only': 5})
    with pytest.raises(DataError, match='Only one label'): lesson_dataloaders(tmp_path)

def test_dataloaders_small_folder(tmp_path):
    photos(tmp_path, {'a': 6, 'b': 6})
    with pytest.warns(UserWarning, match='using bs=10'): dls = lesson_dataloaders(tmp_path, bs=32)
    xb, yb = dls.one_batch()
    assert tuple(xb.shape) == (10, 3, 192, 192) and len(dls.valid_ds) == 2

def test_split_files_is_the_lessons_split(birds):
    "The lesson's split: `RandomSplitter(0.2, seed=42)` over `get_image_files`, from a folder or a list; another seed, another split."
    from fastai.vision.all import RandomSplitter, get_image_files
    files = get_image_files(birds)
    trn, val = split_files(birds)
    want_trn, want_val = RandomSplitter(0.2, seed=42)(files)
    assert (trn, val) == ([files[i] for i in want_trn], [files[i] for i in want_val]) == split_files(birds, 0.2, seed=42)
    assert split_files(list(files), seed=42) == (trn, val) == split_files(str(birds))
    one = split_files(birds, seed=1)
    assert one != (trn, val) and one[1] != val, 'the seed is used'
    assert one[1] == [files[i] for i in RandomSplitter(0.2, seed=1)(files)[1]]
    assert sorted(one[0]+one[1]) == sorted(files) and len(one[1]) == len(val)
    assert len(split_files(birds, valid_pct=0.5)[1]) == len(files)//2
