"""cnnlib.transposed_sizes: the widgets' explanations of transposed convolutions, against the op itself.

The op (cnnlib.conv_variants.conv2d_transpose, checked against TensorFlow in test_conv_variants) is the
independent reference: a transposed convolution of ones with a kernel of ones counts, at every output
pixel, the stamps that reach it.
"""

import itertools

import numpy as np
import pytest

from cnnlib import shapes
from cnnlib import transposed_sizes as T
from cnnlib.conv_variants import conv2d_transpose

GRID = list(itertools.product(range(1, 6), range(1, 5), range(1, 4), (1, 2), (0, 1, 2, "valid", "same", "full"),
                              (None, 0, 1, 2)))


def stamp_counts(n, k, padding, stride, dilation, output_padding):
    """How many stamps reach each output pixel, by running the op on ones."""
    out = conv2d_transpose(np.ones((1, n, 1, 1)), np.ones((k, 1, 1, 1)), None, (stride, 1),
                           (padding, 0) if not isinstance(padding, str) else padding,
                           None if output_padding is None else (output_padding, 0), (dilation, 1))
    return out[0, :, 0, 0]


def check_one(n, k, stride, dilation, padding, output_padding):
    try:
        expected = shapes.conv_transpose_output_size(n, k, padding, stride, dilation, output_padding)
    except ValueError as err:
        size, message = T.explain_conv_transpose_size(n, k, padding, stride, dilation, output_padding)
        assert size is None and message == f"Impossible: {err}."
        assert T.conv_transpose_size_formula(n, k, padding, stride, dilation, output_padding).endswith(f"({err})")
        return False
    lay = T.conv_transpose_axis_layout(n, k, padding, stride, dilation, output_padding)
    first, last = lay["window"]
    counts = np.concatenate([lay["cover"], np.zeros(max(0, last - lay["stamped"]))])[first:last]
    np.testing.assert_array_equal(stamp_counts(n, k, padding, stride, dilation, output_padding), counts)
    size, message = T.explain_conv_transpose_size(n, k, padding, stride, dilation, output_padding)
    assert size == expected == lay["output_size"] and f"Output size {expected}" in message
    assert T.conv_transpose_size_formula(n, k, padding, stride, dilation, output_padding).endswith(f"= {expected}")
    assert shapes.conv_output_size(expected, k, padding, stride, dilation) == n    # and back
    return True


def test_layout_and_explanation_agree_with_the_op_and_shapes():
    """Over the grid (n 1-5, k 1-4, stride 1-3, dilation 1-2, six paddings, four output paddings)."""
    possible = 0
    for case in GRID:
        try:
            possible += check_one(*case)
        except AssertionError as err:
            raise AssertionError(f"{case}: {err}") from None
    assert 0.3 * len(GRID) < possible < len(GRID)      # both kinds of setting really occur


def test_explanations_by_hand():
    size, message = T.explain_conv_transpose_size(3, 3, 0, 2)
    assert size == 7 and "overlap by 1 pixel" in message and "cover (W − 1)·S + K_eff = 7" in message
    size, message = T.explain_conv_transpose_size(3, 2, 1, 3, output_padding=2)
    assert size == 8 and "gaps of 1 pixel" in message and "checkerboard" in message
    assert "1 that the padding had cropped and 1 beyond the last stamp" in message
    assert T.conv_transpose_size_formula(3, 3, 1, 2, output_padding=1) == (
        "O = (W − 1)·S + D(K−1) + 1 − P_before − P_after + a = (3 − 1)·2 + 1·(3−1) + 1 − 1 − 1 + 1 = 6")
    size, message = T.explain_conv_transpose_size(3, 3, 0, 2, output_padding=2)
    assert size is None and "output_padding must be smaller than the stride" in message


@pytest.mark.slow
def test_transposed_layer_summary_matches_keras(tf):
    from cnnlib.widgets import layer_summary

    for h, w, c, f, k, p, s, a in [(7, 7, 8, 4, 3, "same", 2, None), (5, 9, 3, 6, 4, "valid", 2, 1),
                                   (4, 4, 2, 1, 3, "same", 3, 2)]:
        layer = tf.keras.layers.Conv2DTranspose(f, k, strides=s, padding=p, output_padding=a)
        out = layer(tf.zeros((1, h, w, c)))
        shape, params, text = layer_summary(h, w, c, f, k, p, s, 1, transposed=True, output_padding=a)
        assert shape == tuple(out.shape[1:]) and params == layer.count_params()
        assert f"{h}×{w}×{c}" in text and f"{params:,}" in text and "transposed kernels" in text
    assert layer_summary(3, 3, 1, 2, 3, 0, 2, 1, transposed=True, output_padding=2)[0] is None
