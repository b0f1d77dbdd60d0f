"""cnnlib.widgets without a browser: the pure functions against independent references, then the widgets.

References: positions counted by brute force, hand-worked lecture examples,
SciPy for filtering, plain NumPy slices for pooling, and Keras for layer shapes
and parameter counts. The widget tests set control values from code and read
back what the widget shows.
"""

import html
import itertools
import re

import numpy as np
import pytest
from scipy import signal

from cnnlib import shapes
from cnnlib import widgets as W

PADDINGS = (0, 1, 2, "valid", "same", "full")


def _padding_pair(n, k, padding, stride, dilation):
    """Zeros before/after, written out from the definitions (TensorFlow's rule for 'same')."""
    span = dilation * (k - 1) + 1
    if padding == "valid":
        return 0, 0
    if padding == "full":
        return span - 1, span - 1
    if padding == "same":
        out = -(-n // stride)
        total = max((out - 1) * stride + span - n, 0)
        return total // 2, total - total // 2
    return padding, padding


def _brute_force(n, k, padding, stride, dilation):
    """(padded length, span, kernel start positions) by trying every start."""
    before, after = _padding_pair(n, k, padding, stride, dilation)
    padded, span = n + before + after, dilation * (k - 1) + 1
    starts = [p for p in range(0, padded, stride) if p + span <= padded]
    return before, padded, span, starts


# ---------------------------------------------------------------------------
# explain_conv_size, conv_size_formula, conv_axis_layout
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("stride", range(1, 5))
@pytest.mark.parametrize("padding", PADDINGS)
def test_explain_conv_size_over_a_small_grid(padding, stride):
    """Every n in 1..9, k in 1..5, dilation in 1..3 for this padding and stride."""
    for n, k, dilation in itertools.product(range(1, 10), range(1, 6), range(1, 4)):
        try:
            _check_one_combination(n, k, padding, stride, dilation)
        except AssertionError as err:
            raise AssertionError(f"n={n}, k={k}, padding={padding!r}, stride={stride}, "
                                 f"dilation={dilation}: {err}") from err


def _check_one_combination(n, k, padding, stride, dilation):
    before, padded, span, starts = _brute_force(n, k, padding, stride, dilation)
    size, message = W.explain_conv_size(n, k, padding, stride, dilation)
    formula = W.conv_size_formula(n, k, padding, stride, dilation)
    if not starts:
        assert size is None
        with pytest.raises(ValueError):
            shapes.conv_output_size(n, k, padding, stride, dilation)
        assert message.startswith("Impossible")
        assert f"spans {span} pixels" in message and f"only {padded} wide" in message
        assert formula.endswith("the kernel does not fit, no output")
        return
    assert size == len(starts) == shapes.conv_output_size(n, k, padding, stride, dilation)
    assert formula.endswith(f"= {size}")
    assert f"⌊{padded - span} / {stride}⌋" in formula
    assert message.startswith(f"Output size {size}:")
    layout = W.conv_axis_layout(n, k, padding, stride, dilation)
    assert list(layout["starts"]) == starts
    leftover = padded - (starts[-1] + span)
    assert leftover == (padded - span) % stride
    assert len(layout["leftover"]) == leftover
    if leftover == 0:
        assert "tiles it" in message and "left over" not in message
        assert shapes.conv_output_size(n, k, padding, stride, dilation, strict=True) == size
        return
    with pytest.raises(ValueError, match="does not tile"):
        shapes.conv_output_size(n, k, padding, stride, dilation, strict=True)
    assert f"{leftover} pixel{'s' if leftover > 1 else ''} at the bottom/right" in message
    real = [p - before for p in range(starts[-1] + span, padded) if before <= p < before + n]
    if real:
        first_last = str(real[0]) if len(real) == 1 else f"{real[0]} to {real[-1]}"
        assert f"input pixel{'s' if len(real) > 1 else ''} {first_last} (counting from 0)" in message
    else:
        assert "Only padding is lost" in message


def test_explain_conv_size_hand_examples():
    assert W.explain_conv_size(227, 11, 0, 4)[0] == 55            # AlexNet conv1: 216 / 4 tiles
    assert "tiles it" in W.explain_conv_size(227, 11, 0, 4)[1]
    assert W.explain_conv_size(28, 5, "same", 2)[0] == 14
    size, message = W.explain_conv_size(7, 3, 0, 3)                # starts 0, 3; pixel 6 is never seen
    assert size == 2 and "input pixel 6 (counting from 0)" in message
    assert W.conv_size_formula(7, 3, 1, 2) == ("O = ⌊(W + 2P − D(K−1) − 1) / S⌋ + 1 = "
                                               "⌊(7 + 2·1 − 1·(3−1) − 1) / 2⌋ + 1 = ⌊6 / 2⌋ + 1 = 4")
    assert "P_before + P_after" in W.conv_size_formula(6, 2, "same", 1)   # TF pads 0 before, 1 after
    size, message = W.explain_conv_size(5, 3, 0, 1, dilation=3)   # spans 7 > 5
    assert size is None and "spans 7 pixels" in message and "only 5 wide" in message


@pytest.mark.parametrize("args, bad", [
    ((0, 3, 0, 1, 1), "n must be >= 1"),
    ((5, 0, 0, 1, 1), "k must be >= 1"),
    ((5, 3, -1, 1, 1), "padding must be >= 0"),
    ((5, 3, "bogus", 1, 1), "padding must be"),
    ((5, 3, 0, 0, 1), "stride must be >= 1"),
    ((5, 3, 0, 1.5, 1), "stride must be an integer"),
    ((5, 3, 0, 1, 0), "dilation must be >= 1"),
])
def test_invalid_arguments_are_explained_not_raised(args, bad):
    size, message = W.explain_conv_size(*args)
    assert size is None and message.startswith("Invalid setting") and bad in message
    assert W.conv_size_formula(*args) == "O = ⌊(W + 2P − D(K−1) − 1) / S⌋ + 1"


def test_layer_summary_hand_examples():
    assert W.layer_summary(227, 227, 3, 96, 11, 0, 4)[:2] == ((55, 55, 96), 34944)   # AlexNet conv1
    shape, params, text = W.layer_summary(32, 16, 3, 10, 5, "same", 2)
    assert (shape, params) == ((16, 8, 10), 5 * 5 * 3 * 10 + 10)
    assert "32×16×3" in text and "16×8×10" in text and "760" in text
    shape, params, text = W.layer_summary(4, 9, 1, 2, 5)
    assert shape is None and text.startswith("Along the height: Impossible")
    assert W.layer_summary(4, 4, 0, 2, 3)[2].startswith("Invalid setting: c_in must be >= 1")


@pytest.mark.slow
def test_layer_summary_matches_keras(tf):
    for h, w, c, f, k, p, s, d in [(28, 28, 1, 8, 3, "valid", 1, 1), (32, 20, 3, 16, 5, "same", 2, 1),
                                   (15, 15, 4, 6, 3, "same", 1, 2), (9, 12, 2, 3, 4, "valid", 3, 1)]:
        layer = tf.keras.layers.Conv2D(f, k, strides=s, padding=p, dilation_rate=d)
        out = layer(tf.zeros((1, h, w, c)))
        shape, params, _ = W.layer_summary(h, w, c, f, k, p, s, d)
        assert shape == tuple(out.shape[1:]) and params == layer.count_params()


# ---------------------------------------------------------------------------
# conv_steps, apply_kernel, pool_windows
# ---------------------------------------------------------------------------

def test_conv_steps_on_the_lecture_example():
    padded, output, steps = W.conv_steps(W.LECTURE_IMAGE, W.LECTURE_KERNEL)
    assert output.tolist() == [[4, 3, 4], [2, 4, 3], [2, 3, 4]]   # worked by hand
    assert len(steps) == 9 and [(s["row"], s["col"]) for s in steps] == list(itertools.product(range(3), repeat=2))
    centre = steps[4]
    assert centre["window"].tolist() == [[1, 1, 1], [0, 1, 1], [0, 1, 1]]
    assert centre["products"].tolist() == [[1, 0, 1], [0, 1, 0], [0, 0, 1]]
    assert centre["value"] == 4
    assert (padded == W.LECTURE_IMAGE).all()


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 0), (1, 1), (2, 1), (3, 2), (1, "same"), (2, "full")])
def test_conv_steps_agree_with_scipy(stride, padding):
    rng = np.random.default_rng(stride * 10 + len(str(padding)))
    image, kernel = rng.integers(-3, 4, (7, 6)), rng.integers(-2, 3, (3, 3))
    padded, output, steps = W.conv_steps(image, kernel, stride, padding)
    p = {"same": 1, "full": 2}.get(padding, padding)       # a 3x3 kernel's symmetric amounts
    expected_padded = np.pad(image, p)
    assert np.array_equal(padded, expected_padded)
    full = signal.correlate2d(expected_padded, kernel, mode="valid")[::stride, ::stride]
    assert np.array_equal(output, full)
    for step in steps:
        assert np.array_equal(step["products"], step["window"] * kernel)
        assert step["products"].sum() == step["value"] == full[step["row"], step["col"]]
        assert np.array_equal(step["window"], expected_padded[step["top"]:step["top"] + 3,
                                                              step["left"]:step["left"] + 3])


def test_conv_steps_refuses_a_kernel_that_does_not_fit():
    with pytest.raises(ValueError, match="does not fit"):
        W.conv_steps(np.ones((2, 2)), np.ones((3, 3)))


def test_curve_detector_gives_the_lectures_numbers():
    on_curve = np.array([[0, 0, 0, 0, 0, 0, 30], [0, 0, 0, 0, 50, 50, 50], [0, 0, 0, 20, 50, 0, 0],
                         [0, 0, 0, 50, 50, 0, 0], [0, 0, 0, 50, 50, 0, 0], [0, 0, 0, 50, 50, 0, 0],
                         [0, 0, 0, 50, 50, 0, 0]])
    off_curve = np.array([[0, 0, 0, 0, 0, 0, 0], [0, 40, 0, 0, 0, 0, 0], [40, 0, 40, 0, 0, 0, 0],
                          [40, 20, 0, 0, 0, 0, 0], [0, 50, 0, 0, 0, 0, 0], [0, 0, 50, 0, 0, 0, 0],
                          [25, 25, 0, 50, 0, 0, 0]])
    for patch, expected in ((on_curve, 6600), (off_curve, 0)):
        _, output, _ = W.conv_steps(patch, W.CURVE_DETECTOR)
        assert output.tolist() == [[expected]]
    assert W.KERNEL_PRESETS["curve detector (7x7)"] is W.CURVE_DETECTOR


@pytest.mark.parametrize("name", list(W.KERNEL_PRESETS))
def test_apply_kernel_matches_scipy(name):
    kernel = W.KERNEL_PRESETS[name]
    image = np.random.default_rng(0).random((12, 10))
    filtered, rectified = W.apply_kernel(image, kernel)
    expected = signal.correlate2d(image, kernel, mode="same")   # odd kernels: same split as TF
    np.testing.assert_allclose(filtered, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(rectified, np.where(expected > 0, filtered, 0))


def test_kernel_presets_are_the_usual_ones():
    p = W.KERNEL_PRESETS
    assert set(p) == {"identity", "box blur", "Gaussian blur", "sharpen", "Sobel x", "Sobel y",
                      "Laplacian", "curve detector (7x7)"}
    assert p["box blur"].sum() == pytest.approx(1) and p["Gaussian blur"].sum() == pytest.approx(1)
    assert p["sharpen"].sum() == 1 and p["Laplacian"].sum() == 0 and p["Sobel x"].sum() == 0
    assert np.array_equal(p["Sobel y"], p["Sobel x"].T)
    image = np.random.default_rng(1).random((6, 6))
    assert np.array_equal(W.apply_kernel(image, p["identity"])[0], image)


REDUCE = {"max": np.max, "avg": np.mean, "sum": np.sum}


@pytest.mark.parametrize("mode", list(REDUCE))
@pytest.mark.parametrize("pool_size, stride", [(1, 1), (2, None), (2, 1), (3, 2), (3, 3), (2, 3), (4, 1)])
def test_pool_windows_match_numpy_slices(mode, pool_size, stride):
    x = np.random.default_rng(pool_size).integers(-9, 10, (7, 6))
    output, windows = W.pool_windows(x, pool_size, stride, mode)
    s = pool_size if stride is None else stride
    rows, cols = range(0, 7 - pool_size + 1, s), range(0, 6 - pool_size + 1, s)
    assert output.shape == (len(rows), len(cols)) and len(windows) == output.size
    for win, (top, left) in zip(windows, itertools.product(rows, cols)):
        block = x[top:top + pool_size, left:left + pool_size]
        assert (win["top"], win["left"]) == (top, left)
        assert np.array_equal(win["values"], block)
        assert win["value"] == pytest.approx(REDUCE[mode](block))
        assert output[win["row"], win["col"]] == win["value"]


def test_pool_windows_hand_examples():
    x = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]])
    assert W.pool_windows(x, 2)[0].tolist() == [[6, 8], [3, 4]]
    assert W.pool_windows(x, 2, mode="sum")[0].tolist() == [[13, 21], [8, 8]]
    out, windows = W.pool_windows(W.DEFAULT_POOL_INPUT, 3, 2)       # overlapping 3/2 on 6x6
    assert out.tolist() == [[6, 5], [7, 8]] and len(windows) == 4
    with pytest.raises(ValueError, match="does not fit"):
        W.pool_windows(x, 5)


# ---------------------------------------------------------------------------
# trace_layers
# ---------------------------------------------------------------------------

STACKS = [
    ((28, 28, 1), [{"kind": "conv", "filters": 8, "kernel_size": 3},
                   {"kind": "maxpool", "pool_size": 2}, {"kind": "flatten"},
                   {"kind": "dense", "units": 10}]),
    ((32, 32, 3), [{"kind": "conv", "filters": 16, "kernel_size": 5, "strides": 2, "padding": "same"},
                   {"kind": "avgpool", "pool_size": 3, "strides": 2},
                   {"kind": "conv", "filters": 4, "kernel_size": 1}, {"kind": "flatten"},
                   {"kind": "dense", "units": 7}, {"kind": "dense", "units": 3}]),
    ((227, 227, 3), [{"kind": "conv", "filters": 96, "kernel_size": 11, "strides": 4},
                     {"kind": "maxpool", "pool_size": 3, "strides": 2},
                     {"kind": "conv", "filters": 256, "kernel_size": 5, "padding": "same"}]),
]


def _keras_layer(tf, spec):
    L = tf.keras.layers
    kind = spec["kind"]
    if kind == "conv":
        return L.Conv2D(spec["filters"], spec["kernel_size"], strides=spec.get("strides", 1),
                        padding=spec.get("padding", "valid"))
    if kind in ("maxpool", "avgpool"):
        cls = L.MaxPooling2D if kind == "maxpool" else L.AveragePooling2D
        return cls(spec["pool_size"], strides=spec.get("strides"))
    if kind == "flatten":
        return L.Flatten()
    return L.Dense(spec["units"])


@pytest.mark.slow
@pytest.mark.parametrize("input_shape, layers", STACKS)
def test_trace_layers_matches_keras(tf, input_shape, layers):
    rows = W.trace_layers(input_shape, layers)
    x = tf.keras.Input(shape=input_shape)
    for row, spec in zip(rows, layers):
        layer = _keras_layer(tf, spec)
        x = layer(x)
        assert row["error"] is None
        assert row["shape"] == tuple(x.shape[1:])
        assert row["params"] == layer.count_params()


def test_trace_layers_flags_what_cannot_be_built():
    rows = W.trace_layers((6, 6, 1), [{"kind": "conv", "filters": 2, "kernel_size": 3},
                                      {"kind": "conv", "filters": 2, "kernel_size": 5},
                                      {"kind": "flatten"}])
    assert rows[0] == {"shape": (4, 4, 2), "params": 20, "error": None}
    assert rows[1]["shape"] is None and "does not fit" in rows[1]["error"]
    assert rows[2]["error"] == "skipped: an earlier layer failed"
    rows = W.trace_layers((4, 4, 1), [{"kind": "dense", "units": 3}])
    assert "add a flatten first" in rows[0]["error"]
    rows = W.trace_layers((4, 4, 1), [{"kind": "flatten"}, {"kind": "maxpool"}])
    assert rows[0]["shape"] == (16,) and "pooling needs an H×W×C input, got 16" in rows[1]["error"]
    assert "layer kind must be one of" in W.trace_layers((4, 4, 1), [{"kind": "lstm"}])[0]["error"]
    with pytest.raises(ValueError, match="input_shape"):
        W.trace_layers((4, 4), [])


# ---------------------------------------------------------------------------
# The widgets, driven from code
# ---------------------------------------------------------------------------

def _text(widget):
    """What an HTML widget shows, tags removed and entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", widget.value))


def _is_png(data):
    return bytes(data[:8]) == b"\x89PNG\r\n\x1a\n"


def test_conv_size_explorer_shows_what_shapes_computes():
    e = W.ConvSizeExplorer()
    assert [c.value for c in (e.input_size, e.kernel_size, e.padding, e.stride, e.dilation)] == [7, 3, 0, 1, 1]
    for n, k, p, s, d in itertools.product((1, 4, 9), (1, 3, 4), (0, 2), (1, 3), (1, 2)):
        e.input_size.value, e.kernel_size.value, e.padding.value = n, k, p
        e.stride.value, e.dilation.value = s, d
        try:
            expected = shapes.conv_output_size(n, k, p, s, d)
        except ValueError:
            expected = None
        assert e.output_size == expected
        assert (e.output_size, e.message) == W.explain_conv_size(n, k, p, s, d)
        shown = _text(e.size_html)
        assert shown == (f"output size: {expected}" if expected else "output size: none (impossible)")
        assert _text(e.message_html) == e.message
        assert _text(e.formula_html) == W.conv_size_formula(n, k, p, s, d)
    assert _is_png(e.image.value)


def test_conv_size_explorer_padding_presets_follow_the_other_sliders():
    e = W.ConvSizeExplorer(input_size=10, kernel_size=4)
    e.padding_mode.value = "same"
    e.stride.value = 3
    before, _ = shapes.padding_amounts(10, 4, "same", 3)
    assert e.padding.value == before and e.output_size == 4 == -(-10 // 3)
    assert "uneven" in e.message or before == shapes.padding_amounts(10, 4, "same", 3)[1]
    e.padding_mode.value = "full"
    assert e.padding.value == 3 and e.output_size == shapes.conv_output_size(10, 4, "full", 3)
    e.kernel_size.value = 5                       # full follows K
    assert e.padding.value == 4
    e.padding.value = 1                           # a hand-set padding is explicit again
    assert e.padding_mode.value == "explicit" and e.output_size == shapes.conv_output_size(10, 5, 1, 3)
    e.padding_mode.value = "valid"
    assert e.padding.value == 0 and e.output_size == 2


def test_conv_size_explorer_refreshes_once_per_batch():
    e = W.ConvSizeExplorer()
    calls = []
    original = e.refresh
    e.refresh = lambda: (calls.append(1), original())
    with e._batch():
        e.input_size.value, e.kernel_size.value, e.stride.value = 20, 5, 4
    assert len(calls) == 1 and e.output_size == shapes.conv_output_size(20, 5, 0, 4)
    e.padding.value = 3      # the padding observer switches the mode and refreshes once
    assert len(calls) == 2


def test_conv_size_explorer_explains_an_impossible_combination():
    e = W.ConvSizeExplorer()
    e.input_size.value, e.kernel_size.value = 3, 7
    assert e.output_size is None
    assert _text(e.size_html) == "output size: none (impossible)"
    assert "spans 7 pixels" in _text(e.message_html) and "only 3 wide" in _text(e.message_html)
    assert _is_png(e.image.value)
    e.padding.value = 2       # 3 + 4 = 7: it fits once
    assert e.output_size == 1 and "tiles it" in e.message


def test_conv_size_explorer_whole_layer_view():
    e = W.ConvSizeExplorer(input_size=32, kernel_size=5, channels=3, filters=16)
    assert e.layer_box.layout.display == "none"
    e.view.value = "whole layer"
    e.padding_mode.value = "same"
    assert e.layer_box.layout.display == ""
    assert e.layer_shape == (32, 32, 16) and e.layer_params == shapes.conv_param_count(5, 5, 3, 16) == 1216
    assert "32×32×3" in _text(e.layer_html) and "32×32×16" in _text(e.layer_html)
    assert "1,216" in _text(e.layer_html)


def test_conv_size_explorer_transposed_mode_shows_what_shapes_computes():
    e = W.ConvSizeExplorer(input_size=3, kernel_size=3, stride=2)
    assert e.output_padding.layout.display == "none"
    e.mode.value = "transposed"
    assert e.output_padding.layout.display == ""
    for n, k, p, s, d, a in itertools.product((1, 3, 4), (1, 2, 3), (0, 1), (1, 2, 3), (1, 2), (None, 0, 1, 2)):
        with e._batch():
            e.input_size.value, e.kernel_size.value, e.padding.value = n, k, p
            e.stride.value, e.dilation.value, e.output_padding.value = s, d, a
            e.padding_mode.value = "explicit"
        try:
            expected = shapes.conv_transpose_output_size(n, k, p, s, d, a)
        except ValueError:
            expected = None
        assert e.output_size == expected
        assert (e.output_size, e.message) == W.explain_conv_transpose_size(n, k, p, s, d, a)
        assert _text(e.size_html) == (f"output size: {expected}" if expected else "output size: none (impossible)")
        assert _text(e.formula_html) == W.conv_transpose_size_formula(n, k, p, s, d, a)
        assert _is_png(e.image.value)
    e.mode.value = "convolution"                  # back: the convolution's numbers again
    assert e.output_size == W.explain_conv_size(4, 3, 1, 3, 2)[0] and "⌊" in e.formula


def test_conv_size_explorer_transposed_presets_and_layer_view():
    e = W.ConvSizeExplorer(input_size=7, kernel_size=4, stride=2, channels=16, filters=8, mode="transposed")
    e.padding_mode.value = "same"
    assert e.output_size == 14 and e.padding.value == shapes.conv_transpose_padding(7, 4, "same", 2)[0]
    e.output_padding.value = 0                     # even kernel, 'same', a = 0: impossible, and why
    assert e.output_size is None and "only output_padding=None works" not in e.message
    assert "between 1 and 1" in e.message and _text(e.size_html) == "output size: none (impossible)"
    e.output_padding.value = 1                     # (7 - 1)·2 + 4 % 2 + 1: Keras's rule
    assert e.output_size == 13 == shapes.conv_transpose_output_size(7, 4, "same", 2, output_padding=1)
    e.view.value = "whole layer"
    assert e.layer_shape == (13, 13, 8) and e.layer_params == 4 * 4 * 16 * 8 + 8
    assert "13×13×8" in _text(e.layer_html)


def test_conv_stepper_steps_through_the_lecture_example():
    st = W.ConvStepper()
    assert st.step.max == st.play.max == 8
    assert st.output.tolist() == [[4, 3, 4], [2, 4, 3], [2, 3, 4]]
    st.step.value = 5                             # row 1, col 2
    assert (st.current["row"], st.current["col"]) == (1, 2)
    assert st.sum_text.endswith("= 3")
    shown = _text(st.html)
    assert "sum of the products" in shown and "output, cell (1, 2)" in shown
    # six cells filled (steps 0..5), three still blank
    output_table = st.html.value.split("output, cell")[1]
    assert output_table.count("&nbsp;") == 3


def test_kernel_playground_presets_and_edits():
    image = np.random.default_rng(2).random((16, 12))
    kp = W.KernelPlayground(image)
    np.testing.assert_array_equal(kp.filtered, image)      # identity
    kp.preset.value = "Sobel x"
    np.testing.assert_allclose(kp.filtered, signal.correlate2d(image, W.KERNEL_PRESETS["Sobel x"], mode="same"),
                               atol=1e-12)
    assert (kp.rectified >= 0).all() and "ReLU zeroes" in kp.stats_text
    kp.cells[1][1].value = 4.0                                  # an edit makes it custom
    assert kp.preset.value == "custom" and kp.kernel[1, 1] == 4
    np.testing.assert_allclose(kp.filtered, signal.correlate2d(image, kp.kernel, mode="same"), atol=1e-12)
    kp.preset.value = "curve detector (7x7)"
    assert len(kp.cells) == 7 and np.array_equal(kp.kernel, W.CURVE_DETECTOR)
    kp.preset.value = "Laplacian"
    assert len(kp.cells) == 3 and kp.preset.value == "Laplacian"
    assert _is_png(kp.picture.value)


def test_pooling_explorer_presets_and_windows():
    pe = W.PoolingExplorer()
    assert pe.output.tolist() == [[6, 2, 5], [7, 8, 6], [5, 9, 7]]     # 2/2 max, by hand
    pe.overlap_button.click()
    assert (pe.pool_size.value, pe.stride.value) == (3, 2) and pe.window.max == 3
    pe.window.value = 3
    assert "Window 3 gives max = 8" in pe.message and "overlap" in pe.message
    pe.mode.value = "avg"
    assert pe.output[1, 1] == pytest.approx(W.DEFAULT_POOL_INPUT[2:5, 2:5].mean())
    pe.pool_size.value = 7
    assert pe.output is None and pe.message.startswith("Impossible") and "does not fit" in _text(pe.html)


def test_shape_tracer_add_edit_remove():
    tr = W.ShapeTracer((28, 28, 1))
    assert [r["shape"] for r in tr.trace] == [(26, 26, 8), (13, 13, 8), (1352,), (10,)]
    assert tr.total_params == 80 + 1352 * 10 + 10
    assert "13,610" in _text(tr.footer)
    tr.rows[0].kernel_size.value = 30                       # cannot fit: flagged in its own row
    assert "⚠" in _text(tr.rows[0].result) and "does not fit" in _text(tr.rows[0].result)
    assert "skipped" in _text(tr.rows[3].result) and tr.total_params is None
    tr.rows[0].kernel_size.value = 5
    tr.rows[0].padding.value = "same"
    assert tr.trace[0]["shape"] == (28, 28, 8)
    tr.remove_layer(1)                                      # drop the pooling
    assert len(tr.rows) == 3 and tr.trace[1]["shape"] == (28 * 28 * 8,)
    row = tr.add_layer("dense", units=5)
    assert tr.trace[-1] == {"shape": (5,), "params": 10 * 5 + 5, "error": None}
    row.remove.click()
    assert len(tr.rows) == 3
    tr.rows[2].kind.value = "maxpool"                       # a pool after flatten is flagged
    assert "pooling needs" in tr.trace[2]["error"]
    assert tr.rows[2].pool_size.layout.display == "" and tr.rows[2].units.layout.display == "none"


def test_importing_cnnlib_does_not_import_widgets():
    import subprocess
    import sys

    code = "import sys, cnnlib; print('ipywidgets' in sys.modules, 'matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
