"""fastbird.images, the one image reader, beyond the notebook's examples: the pixel limits whatever the warning filters,
every input kind, and the errors that name the image and say why."""
import io, warnings
import numpy as np, pytest
from PIL import Image
from fastbird.images import MAX_PIXELS, ImageReadError, image_array, image_problem, read_image
from fetch_server import BROKEN, JPEG, KEPT, bomb_png

def test_pixel_limit_is_an_argument():
    assert read_image(JPEG).size == (640, 480) and read_image(JPEG, max_size=400).size == (400, 300)
    assert read_image(JPEG, max_pixels=640*480).size == (640, 480)  # at the limit: fine
    with pytest.raises(ImageReadError, match='decompression bomb') as e: read_image(JPEG, max_pixels=640*480-1)
    assert e.value.reason.startswith('decompression bomb (640 x 480 pixels')

@pytest.mark.parametrize('flt', ['ignore', 'default', 'error'])
def test_100_million_pixels_between_pils_limits_is_refused(flt):
    "About 100 million pixels: over PIL's warning limit, under its error limit, so only fastbird's own limit stops it, whatever the warning filters say."
    assert Image.MAX_IMAGE_PIXELS < 10_000*10_000 < 2*Image.MAX_IMAGE_PIXELS and MAX_PIXELS < 10_000*10_000
    with warnings.catch_warnings():
        warnings.simplefilter(flt)
        with pytest.raises(ImageReadError) as e: read_image(bomb_png(10_000, 10_000))
        assert e.value.reason.startswith('decompression bomb'), e.value.reason
        assert image_problem(bomb_png(10_000, 10_000)).startswith('decompression bomb')

@pytest.mark.parametrize('flt', ['ignore', 'default', 'error'])
def test_over_pils_error_limit_is_refused(flt):
    with warnings.catch_warnings():
        warnings.simplefilter(flt)
        with pytest.raises(ImageReadError, match='decompression bomb'): read_image(bomb_png(30_000, 30_000))

def test_every_input_kind_gives_the_same_photo(tmp_path):
    (tmp_path/'photo.jpg').write_bytes(JPEG)
    a, b, c = read_image(tmp_path/'photo.jpg'), read_image(JPEG), read_image(Image.open(io.BytesIO(JPEG)))
    assert a.mode == b.mode == c.mode == 'RGB'
    assert np.array_equal(np.asarray(a), np.asarray(b)) and np.array_equal(np.asarray(a), np.asarray(c))
    assert read_image(str(tmp_path/'photo.jpg')).size == (640, 480) and read_image(memoryview(JPEG)).size == (640, 480)

@pytest.mark.parametrize('u', list(KEPT))
def test_every_kind_of_good_image_is_upright_rgb(u):
    im = read_image(KEPT[u][1], max_size=400)
    assert im.mode == 'RGB' and max(im.size) <= 400
    if u == '/rotated.jpg': assert im.size == (200, 400)  # EXIF orientation applied before shrinking

@pytest.mark.parametrize('u,why', [('/page.jpg', 'not an image (HTML'), ('/empty.jpg', 'empty file'),
                                   ('/truncated.jpg', 'corrupt image'), ('/drawing.svg', 'not an image (SVG'),
                                   ('/noise.jpg', 'not an image'), ('/bomb.png', 'decompression bomb')])
def test_errors_name_the_image_and_say_why(tmp_path, u, why):
    f = tmp_path/('bad'+u.split('/')[-1]); f.write_bytes(BROKEN[u][1])
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', Image.DecompressionBombWarning)
        with pytest.raises(ImageReadError) as e: read_image(f)
        assert image_problem(f) == e.value.reason
        with pytest.raises(ImageReadError) as d: read_image(BROKEN[u][1])
    assert isinstance(e.value, ValueError) and e.value.reason.startswith(why), e.value.reason
    assert str(e.value) == f"Can't read {f} as an image: {e.value.reason}."
    assert str(d.value).startswith("Can't read the uploaded data as an image: ")

def test_missing_file(tmp_path):
    with pytest.raises(ImageReadError, match='no such file') as e: read_image(tmp_path/'gone.jpg')
    assert str(tmp_path/'gone.jpg') in str(e.value) and image_problem(tmp_path/'gone.jpg') == 'no such file'

def test_image_array_normalises_each_channel():
    a = image_array(Image.new('RGB', (50, 20), (255, 0, 128)), 8, mean=(0.5, 0.5, 0.5), std=(0.25, 0.5, 1.0))
    assert a.shape == (3, 8, 8) and a.dtype == np.float32 and a.flags['C_CONTIGUOUS']
    assert np.allclose(a[:, 0, 0], [(1-0.5)/0.25, (0-0.5)/0.5, (128/255-0.5)/1.0], atol=1e-5)
    with pytest.raises(ValueError, match='interpolation'): image_array(Image.new('RGB', (4, 4)), 2, (0,)*3, (1,)*3, 'lanczos9')

def _transparent(mode):
    "(image, how to save it, the opaque half's RGB): 30 x 20 in `mode`, the left half black and transparent."
    if mode == 'P':
        im = Image.new('P', (30, 20), 0); im.putpalette([0, 0, 0, 255, 0, 0]); im.paste(1, (15, 0, 30, 20))
        return im, dict(transparency=0), (255, 0, 0)
    if mode in ('RGB', 'L'):  # a PNG colour key: one colour (black) marked transparent
        on = (255, 0, 0) if mode == 'RGB' else 200
        im = Image.new(mode, (30, 20), 0); im.paste(on, (15, 0, 30, 20))
        return im, dict(transparency=(0, 0, 0) if mode == 'RGB' else 0), (255, 0, 0) if mode == 'RGB' else (200,)*3
    on = {'RGBA': (255, 0, 0, 255), 'LA': (200, 255)}[mode]  # an alpha channel
    im = Image.new(mode, (30, 20), (0,)*len(mode)); im.paste(on, (15, 0, 30, 20))
    return im, {}, (255, 0, 0) if mode == 'RGBA' else (200,)*3

@pytest.mark.parametrize('mode,fmt', [('P', 'PNG'), ('P', 'GIF'), ('RGBA', 'PNG'), ('LA', 'PNG'), ('RGB', 'PNG'),
                                      ('L', 'PNG'), ('RGBA', 'WEBP')])
def test_transparent_parts_come_out_white(mode, fmt):
    "Transparency of each kind (a palette's transparent colour, an alpha channel, a colour key) on white, not black."
    im, kw, opaque = _transparent(mode)
    b = io.BytesIO(); im.save(b, fmt, **kw, **({'lossless': True} if fmt == 'WEBP' else {}))
    out = read_image(b.getvalue())
    assert out.mode == 'RGB' and out.getpixel((3, 10)) == (255, 255, 255), out.getpixel((3, 10))
    assert out.getpixel((27, 10)) == opaque

def test_a_large_image_is_refused_without_pil_s_warning(tmp_path):
    "Over PIL's own limit (89 million pixels) PIL warns, with its file's path; fastbird's one-line refusal is enough."
    import warnings
    from PIL import Image
    from fastbird.images import ImageReadError, read_image
    from fastbird.practice import bomb_png
    (tmp_path/'big.png').write_bytes(bomb_png(10_000, 10_000))  # 100 million pixels: a warning in PIL, not yet its error
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        with pytest.raises(ImageReadError, match='decompression bomb'): read_image(tmp_path/'big.png')
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)], [str(w.message) for w in caught]
