"Small copies of the shared real photos, for tests that change them. The photos themselves come from the `birds` and `pets` fixtures (conftest.py)."
import shutil

ARCH = 'efficientnet_lite0'  # the weights that ship with fastbird: the same backbone online and offline

def small_copy(src, dst, n=8, labels=('bird', 'forest')):
    "A folder `dst` with the first `n` photos of each label of `src` (copies, so tests may change them)."
    for l in labels:
        (dst/l).mkdir(parents=True)
        for f in sorted((src/l).iterdir())[:n]: shutil.copy(f, dst/l)
    return dst
