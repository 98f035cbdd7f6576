"""fastbird.backbones: backbone choice (offline fallback, a cached resnet18), weight mapping checks, features and
ImageNet classes on real photos, and how each backbone expects a photo, from its published configuration."""
import pytest, torch
from fastai.vision.all import vision_learner
from torchvision.models import resnet18
from fastbird import backbones as P
from fastbird.images import ImageReadError, image_array, read_image

@pytest.fixture
def cached_resnet18(tmp_path, monkeypatch):
    "A torch hub cache holding a resnet18 state dict under the official file name (random weights: no download here)."
    hub = tmp_path/'hub'
    (hub/'checkpoints').mkdir(parents=True)
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(hub))
    torch.save(resnet18().state_dict(), hub/'checkpoints'/P.RESNET18_URL.split('/')[-1])
    P._imagenet_model.cache_clear()
    yield hub
    P._imagenet_model.cache_clear()

def test_auto_falls_back_loudly_when_resnet18_is_missing(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path))
    assert not P.resnet18_available(download=False)
    monkeypatch.setattr(P, 'resnet18_available', lambda download=True: False)
    P._noted.clear()
    with caplog.at_level('WARNING', logger='fastbird'):
        assert P.resolve_arch('auto') == 'efficientnet_lite0' == P.resolve_arch('auto')
    assert [r.getMessage() for r in caplog.records] == [P.FALLBACK], 'said once, as a sentence'
    assert P.FALLBACK.startswith('Note: ') and "arch='efficientnet_lite0'" in P.FALLBACK and '\n' not in P.FALLBACK
    with pytest.raises(P.BackboneUnavailable, match='efficientnet_lite0'): P.resolve_arch('resnet18')
    caplog.clear(); P._noted.clear()
    assert P.backbone('efficientnet_lite0').name == 'efficientnet_lite0'  # an explicit choice is not a fallback
    assert caplog.records == []

def test_the_note_reaches_a_user_with_no_logging_set_up(tmp_path):
    "In a fresh process (a notebook, a script) the note is printed to stderr as a sentence, with no logger prefix."
    import subprocess, sys
    r = subprocess.run([sys.executable, '-c', 'from fastbird import backbones as P; P.resnet18_available = lambda download=True: False; '
                        'P.resolve_arch("auto"); P.resolve_arch("auto")'], capture_output=True, text=True, cwd=tmp_path)
    assert r.stderr.strip().splitlines()[-1] == P.FALLBACK and r.stderr.count('Note:') == 1, r.stderr

def test_lite0_weights_are_checked_by_hash(tmp_path):
    torch.save(P.packaged_lite0_weights(), tmp_path/'same-tensors-other-file.pth')  # same tensors, different bytes
    with pytest.raises(P.BackboneUnavailable, match='SHA-256'): P.packaged_lite0_weights(tmp_path/'same-tensors-other-file.pth')

def test_features_and_probs_on_an_explicit_device(birds):
    "One code path: `device` defaults to fastai's default_device(); on the CPU, asking for it explicitly changes nothing."
    fs = sorted((birds/'bird').iterdir())[:2]
    assert torch.equal(P.image_features(fs, 'efficientnet_lite0', size=64, device='cpu'), P.image_features(fs, 'efficientnet_lite0', size=64))
    assert P.imagenet_probs(fs, 'efficientnet_lite0', device=torch.device('cpu')).device.type == 'cpu'

def test_auto_uses_cached_resnet18(cached_resnet18, caplog, birds):
    assert P.resnet18_available(download=False)
    P._noted.clear()
    with caplog.at_level('WARNING', logger='fastbird'):
        bb = P.backbone('auto')
    assert caplog.records == []
    assert bb.name == 'resnet18' and bb.arch is resnet18
    feats = P.image_features(sorted((birds/'bird').iterdir())[:3], 'auto', size=64)
    assert feats.shape == (3, 512) and feats.dtype == torch.float32

def test_unknown_arch():
    with pytest.raises(ValueError, match='choose one of'): P.resolve_arch('resnet50')

def test_mapping_rejects_foreign_weights():
    m = P.efficientnet_lite0(pretrained=False)
    sd = P.packaged_lite0_weights()
    with pytest.raises(ValueError, match='not the same architecture'): P.lite0_state_dict(m, dict(list(sd.items())[:-1]))
    swapped = dict(sd); keys = list(sd)
    swapped[keys[1]], swapped[keys[0]] = sd[keys[0]], sd[keys[1]]  # conv weight where a BN weight belongs
    swapped = {k: swapped[k] for k in keys}
    with pytest.raises(ValueError, match="doesn't fit"): P.lite0_state_dict(m, swapped)

def test_packaged_weights_are_exactly_loaded():
    m, sd = P.efficientnet_lite0(), P.packaged_lite0_weights()
    ours = m.state_dict()
    assert all(torch.equal(a, b) for a, b in zip(sd.values(), ours.values()))

def test_imagenet_top_on_real_photos(pets):
    cats = sorted((pets/'cat').iterdir())[:8]
    tops = P.imagenet_top(cats, 'efficientnet_lite0', k=3)
    assert len(tops) == 8 and all(len(t) == 3 for t in tops)
    assert all(isinstance(n, str) and 0 <= p <= 1 for t in tops for n, p in t)
    assert all(t[0][1] >= t[1][1] >= t[2][1] for t in tops)
    cat_names = {P.imagenet_classes()[i] for i in P.IMAGENET_GROUPS['cat']}
    assert sum(t[0][0] in cat_names for t in tops) >= 5, tops

def test_features_shape_flip_and_empty(birds):
    fs = sorted((birds/'forest').iterdir())[:3]
    a = P.image_features(fs, 'efficientnet_lite0', size=96, bs=2)
    b = P.image_features(fs, 'efficientnet_lite0', size=96, flip=True)
    assert a.shape == b.shape == (3, 1280) and not torch.allclose(a, b)
    assert torch.allclose(a, P.image_features(fs, 'efficientnet_lite0', size=96, bs=3), atol=1e-4)
    assert P.image_features([], 'efficientnet_lite0').shape == (0, 1280)

def test_stage_features_leave_no_hooks_behind():
    "`stage_features` takes its stages' outputs with forward hooks, and removes them even when the body fails."
    from fastai.vision.all import create_body
    body = create_body(resnet18(), cut=P.BACKBONES['resnet18'].cut)
    out, f = P.stage_features(body, torch.rand(2, 3, 64, 64), P.BACKBONES['resnet18'].stages)
    assert out.shape == (2, 512, 2, 2) and f.shape == (2, 128+256+512)
    assert torch.allclose(f[:, -512:], torch.nn.functional.normalize(out.mean((2, 3)), dim=1))
    with pytest.raises(RuntimeError): P.stage_features(body, torch.rand(2, 5, 64, 64), P.BACKBONES['resnet18'].stages)  # 5 channels
    assert not any(m._forward_hooks for m in body.modules())
    assert P.stage_features(body, torch.rand(1, 3, 64, 64), ())[1].shape == (1, 512)  # no stages: the body's own alone

def test_unreadable_images_are_named(tmp_path):
    bad = tmp_path/'bad.jpg'; bad.write_bytes(b'\xff\xd8\xff\xe0 truncated')
    with pytest.raises(ImageReadError, match='bad.jpg'): P.image_features([bad], 'efficientnet_lite0')
    with pytest.raises(ImageReadError, match='bad.jpg'): P.imagenet_probs([bad], 'efficientnet_lite0')
    with pytest.raises(ImageReadError, match='uploaded data as an image: not an image'): P.image_features([b'nope'], 'efficientnet_lite0')

def test_vision_learner_takes_the_backbone(birds):
    from fastai.vision.all import ImageDataLoaders, Resize, Normalize
    dls = ImageDataLoaders.from_folder(birds, valid_pct=0.2, seed=42, item_tfms=Resize(64), bs=8, num_workers=0)
    learn = vision_learner(dls, P.backbone('efficientnet_lite0').arch)
    norm = [t for t in dls.after_batch.fs if isinstance(t, Normalize)]
    assert len(norm) == 1 and torch.allclose(norm[0].mean.flatten().cpu(), torch.tensor([0.5]*3))
    # the body holds the packaged weights, the frozen body doesn't train
    assert torch.equal(learn.model[0][0].weight, P.packaged_lite0_weights()['_conv_stem.weight'])
    assert not learn.model[0][0].weight.requires_grad

def test_backbones_prepare_photos_as_their_libraries_do(birds):
    "Each backbone prepares a photo for ImageNet as its own library's published transform does, number for number."
    import timm
    from torchvision.models import ResNet18_Weights
    img = read_image(sorted((birds/'bird').iterdir())[0])
    lite0 = P.efficientnet_lite0(pretrained=False)
    timm_eval = timm.data.create_transform(**timm.data.resolve_data_config({}, model=lite0))
    for name, published in [('resnet18', ResNet18_Weights.IMAGENET1K_V1.transforms()), ('efficientnet_lite0', timm_eval)]:
        assert torch.allclose(P.image_tensor(img, 0, P.BACKBONES[name], 'crop'), published(img), atol=1e-5), name

def test_features_are_at_the_backbones_own_size_by_default(birds):
    fs = sorted((birds/'bird').iterdir())[:2]
    bb = P.BACKBONES['efficientnet_lite0']
    assert torch.equal(P.image_features(fs, bb.name), P.image_features(fs, bb.name, size=bb.size))
    assert not torch.allclose(P.image_features(fs, bb.name), P.image_features(fs, bb.name, size=bb.size//2))

def test_arch_names_are_the_tables():
    assert P.ARCHS == ('auto', *P.BACKBONES) and all(b.name == n for n, b in P.BACKBONES.items())
    with pytest.raises(ValueError, match="choose one of 'auto', 'resnet18', 'efficientnet_lite0'"): P.resolve_arch('vgg')

def test_resnet18_weights_are_asked_for_once_offline(tmp_path, monkeypatch):
    "Offline, every way of building resnet18 with its ImageNet weights says in one line what to do instead."
    from fastbird.model import build_net
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path))
    monkeypatch.setattr(P, 'resnet18_available', lambda download=True: False)
    bb = P.BACKBONES['resnet18']
    assert type(bb.model(pretrained=False)).__name__ == 'ResNet'
    for build in (lambda: bb.model(), lambda: build_net('resnet18', 'linear', 2, pretrained=True)):
        with pytest.raises(P.BackboneUnavailable, match="Use arch='efficientnet_lite0'") as e: build()
        assert '\n' not in str(e.value)

def test_efficientnet_lite0_takes_timms_arguments():
    import inspect
    params = inspect.signature(P.efficientnet_lite0).parameters
    assert {'pretrained', 'num_classes', 'drop_rate', 'in_chans'} <= set(params) and 'kwargs' not in params
    m = P.efficientnet_lite0(pretrained=False, num_classes=3, in_chans=1)
    assert m(torch.zeros(1, 1, 64, 64)).shape == (1, 3)

def test_image_tensor_squish_crop_and_stats(birds):
    img = read_image(sorted((birds/'bird').iterdir())[0])
    bb = P.BACKBONES['resnet18']
    sq = P.image_tensor(img, 96, bb)
    assert sq.shape == (3, 96, 96) and torch.equal(sq, torch.from_numpy(image_array(img, 96, bb.mean, bb.std, bb.interpolation)))
    crop = P.image_tensor(img, 96, bb, 'crop')
    assert crop.shape == (3, bb.size, bb.size)  # ImageNet evaluation: `size` is not used
    other = P.image_tensor(img, 96, bb, stats=([0.5]*3, [0.5]*3))
    assert torch.allclose(other, torch.from_numpy(image_array(img, 96, [0.5]*3, [0.5]*3, bb.interpolation)))
    assert not torch.allclose(other, sq)
    with pytest.raises(ValueError, match="'squish' or 'crop'"): P.image_tensor(img, 96, bb, 'pad')
