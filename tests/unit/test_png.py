"""Our PNG encoder: every array we write reads back exactly with Pillow."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dropsynth.writers.png import encode_png


def _arrays():
    rng = np.random.default_rng(3)
    yield "rgb", rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    yield "rgba", rng.integers(0, 256, (5, 7, 4), dtype=np.uint8)
    yield "grey8", rng.integers(0, 256, (20, 31), dtype=np.uint8)
    yield "depth16", (rng.integers(0, 65536, (29, 41))).astype(np.uint16)
    flat = np.zeros((480, 640), np.uint16)
    flat[100:300, 200:500] = 65535
    flat[50:60, :] = 300
    yield "ids16", flat


@pytest.mark.parametrize("level", [0, 1, 3, 6, 9])
@pytest.mark.parametrize("name, array", list(_arrays()), ids=[n for n, _ in _arrays()])
def test_round_trip_through_pillow(name, array, level):
    with Image.open(io.BytesIO(encode_png(array, level))) as im:
        im.load()
        back = np.asarray(im)
        if array.dtype == np.uint16:
            assert im.mode.startswith("I"), im.mode
            back = back.astype(np.uint16)
    np.testing.assert_array_equal(back, array)


def test_same_array_same_bytes_and_flat_images_compress():
    _, ids = list(_arrays())[-1]
    a, b = encode_png(ids, 1), encode_png(ids.copy(), 1)
    assert a == b
    assert len(a) < ids.nbytes / 50


@pytest.mark.parametrize("array", [np.zeros((4, 4), np.float32), np.zeros((4, 4, 2), np.uint8),
                                   np.zeros((4, 4, 3), np.uint16), np.zeros(5, np.uint8)])
def test_unsupported_arrays_are_refused(array):
    with pytest.raises(ValueError):
        encode_png(array)
