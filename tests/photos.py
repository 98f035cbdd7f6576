"The shared real photos, for tests: where they are, and small copies that a test may change."
import shutil
from fastbird.fetch import lesson_data

BIRDS = lesson_data('birds')
ARCH = 'efficientnet_lite0'  # the weights that ship with fastbird: the same backbone online and offline

def small_copy(dst, n=8, labels=('bird', 'forest')):
    "A folder with the first `n` shared photos of each label (copies, so tests may change them)."
    for l in labels:
        (dst/l).mkdir(parents=True)
        for f in sorted((BIRDS/l).iterdir())[:n]: shutil.copy(f, dst/l)
    return dst
