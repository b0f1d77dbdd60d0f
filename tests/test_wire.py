"""cnnlib.grading.wire: what crosses the sandbox wall is data, and reading it never runs code."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from cnnlib import Sequential, layers
from cnnlib.grading import wire

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
arrays = hnp.arrays(dtype=st.sampled_from([np.float64, np.float32, np.int64, np.uint8, np.bool_, np.complex128]),
                    shape=hnp.array_shapes(min_dims=0, max_dims=4, max_side=4))
values = st.recursive(st.one_of(scalars, arrays), lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.tuples(inner, inner),
    st.dictionaries(st.one_of(st.text(max_size=8), st.integers()), inner, max_size=4)), max_leaves=12)


def _forge(data, old, new):
    """``data`` with ``old`` replaced by ``new`` in its JSON header (the length prefix kept right)."""
    import json
    import struct

    start = len(wire.MAGIC) + 8
    (length,) = struct.unpack("<Q", data[len(wire.MAGIC):start])
    header = data[start:start + length].replace(old, new)
    json.loads(header)
    return wire.MAGIC + struct.pack("<Q", len(header)) + header + data[start + length:]


def _same(a, b):
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and \
            np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@given(values)
def test_plain_data_comes_back_equal_with_its_types(value):
    assert _same(value, wire.loads(wire.dumps(value)))


def test_numpy_scalars_nan_and_big_ints_keep_their_kind():
    back = wire.loads(wire.dumps([np.float32(1.5), np.int8(-3), float("nan"), float("-inf"), 2 ** 80,
                                  np.float64("nan"), np.float64("inf")]))
    assert isinstance(back[0], np.float32) and back[0] == 1.5
    assert isinstance(back[1], np.int8) and back[1] == -3
    assert np.isnan(back[2]) and back[3] == float("-inf") and back[4] == 2 ** 80
    assert isinstance(back[5], np.float64) and np.isnan(back[5]) and back[6] == np.inf


@given(st.binary(max_size=300))
def test_any_bytes_either_decode_or_raise_wire_error(data):
    try:
        wire.loads(data)
    except wire.WireError:
        pass


@given(values, st.integers(0, 10_000), st.integers(0, 255))
def test_a_corrupted_byte_never_raises_anything_but_wire_error(value, where, byte):
    data = bytearray(wire.dumps(value))
    data[where % len(data)] = byte
    try:
        wire.loads(bytes(data))
    except wire.WireError:
        pass


def test_a_header_nested_past_any_limit_is_refused_not_crashed_on():
    import struct

    header = b"[" * 200_000 + b"]" * 200_000
    with pytest.raises(wire.WireError):
        wire.loads(wire.MAGIC + struct.pack("<Q", len(header)) + header)


def test_objects_that_are_not_data_arrive_as_named_placeholders():
    class Sneaky:
        def __eq__(self, other):
            return True

    got = wire.loads(wire.dumps({"a": Sneaky(), "b": np.array([object()]), "c": print}))
    assert isinstance(got["a"], wire.Opaque) and got["a"].type_name == "Sneaky"
    assert isinstance(got["b"], wire.Opaque) and "object" in got["b"].type_name
    assert isinstance(got["c"], wire.Opaque), "only a value's own name may become a function reference"
    assert got["a"] != 0 and got["a"] != got["b"]


def test_a_dict_subclass_arrives_as_a_plain_dict():
    class Always(dict):
        def __eq__(self, other):
            return True

    got = wire.loads(wire.dumps(Always(x=1)))
    assert type(got) is dict and got == {"x": 1} and got != {"x": 2}


def test_a_named_function_becomes_a_reference_to_its_name():
    def conv2d(x):
        return x

    assert wire.loads(wire.dumps(conv2d, function_path="conv2d")) == wire.FunctionRef("conv2d")
    assert wire.loads(wire.dumps(3, kind="value")) == ("value", 3)


def test_dtypes_that_are_not_numbers_are_refused_in_arrays():
    data = wire.dumps(np.zeros(3))
    forged = _forge(data, b'"<f8"', b'"|O8"')
    with pytest.raises(wire.WireError, match="not plain numbers"):
        wire.loads(forged)


def test_a_factory_is_rebuilt_only_on_the_kernels_side():
    from cnnlib.grading.visualization import QuadrantModel

    model = wire.lend(QuadrantModel(4, 4, 1, seed=3), "cnnlib.grading.visualization:QuadrantModel",
                      h=4, w=4, c=1, seed=3)
    data = wire.dumps({"predict_fn": model.predict})
    with pytest.raises(wire.WireError, match="only be rebuilt in the student's kernel"):
        wire.loads(data)
    rebuilt = wire.loads(data, allow_factories=True)["predict_fn"]
    images = np.random.default_rng(0).random((2, 4, 4, 1))
    np.testing.assert_array_equal(rebuilt(images), model.predict(images))


def test_a_factory_outside_cnnlib_grading_is_refused_even_in_the_kernel():
    data = _forge(wire.dumps(0), b'"value": 0', b'"value": {"$factory": ["os:system", {"$dict": []}, null]}')
    with pytest.raises(wire.WireError, match="not one of cnnlib.grading's"):
        wire.loads(data, allow_factories=True)


def test_a_cnnlib_model_crosses_as_architecture_and_weights():
    model = Sequential([layers.Conv2D(3, 3, strides=2, padding="same"), layers.ReLU(), layers.MaxPool2D(2),
                        layers.Flatten(), layers.Dropout(0.25), layers.Dense(4, use_bias=False)],
                       input_shape=(9, 7, 2), seed=4)
    copy = wire.loads(wire.dumps(model))
    assert copy is not model and [repr(a) for a in copy.layers] == [repr(b) for b in model.layers]
    x = np.random.default_rng(1).normal(size=(3, 9, 7, 2)).astype(np.float32)
    np.testing.assert_array_equal(copy.forward(x), model.forward(x))


def test_a_layer_that_is_not_cnnlibs_is_refused():
    class MyConv(layers.Conv2D):
        pass

    model = Sequential([MyConv(2, 3), layers.Flatten(), layers.Dense(2)], input_shape=(5, 5, 1))
    with pytest.raises(wire.WireError, match="not one of cnnlib.layers"):
        wire.loads(wire.dumps(model))


@pytest.mark.slow
def test_a_keras_model_crosses_and_lambda_layers_are_refused(tf):
    k = tf.keras.layers
    model = tf.keras.Sequential([tf.keras.Input((8, 8, 1)), tf.keras.Sequential([k.Conv2D(4, 3, activation="relu")]),
                                 k.MaxPooling2D(2), k.Flatten(), k.Dropout(0.2), k.Dense(3)])
    copy = wire.loads(wire.dumps(model))
    x = np.random.default_rng(2).random((2, 8, 8, 1)).astype(np.float32)
    np.testing.assert_allclose(copy(x).numpy(), model(x).numpy(), rtol=0, atol=0)
    with_lambda = tf.keras.Sequential([tf.keras.Input((4,)), k.Lambda(lambda t: t * 2), k.Dense(1)])
    with pytest.raises(wire.WireError, match="Lambda"):
        wire.loads(wire.dumps(with_lambda))
    data = _forge(wire.dumps(model), b'"keras.layers", "class_name": "Flatten"', b'"os", "class_name": "Flatten"')
    with pytest.raises(wire.WireError, match="does not rebuild"):
        wire.loads(data)
