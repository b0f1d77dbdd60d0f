"""Plain data across the sandbox wall: how the grader and a student's kernel exchange values.

The grader decides scores in its own process and treats the student's kernel as an
oracle: it sends a check's inputs in and reads plain outputs back. Everything that
crosses goes through :func:`dumps` and :func:`loads`, whose format can describe data
and nothing else, so reading what a student's kernel wrote can never run code:

- ``None``, bools, ints, floats (nan and inf too), strings, lists, tuples, and dicts
  whose keys are strings or ints;
- NumPy arrays and scalars of bool, integer, float and complex dtypes (raw bytes plus
  dtype and shape; never pickles);
- models, as their architecture and weights: a cnnlib ``Sequential`` (layer class
  names from :mod:`cnnlib.layers`, constructor arguments, weights) and a Keras model
  (its config and weights). :func:`loads` rebuilds them from an allow-list of layer
  classes and refuses anything else (a Keras ``Lambda``, a custom class);
- a function of the student's, as a :class:`FunctionRef` (its name in the kernel),
  which the grader wraps so that calling it runs it in the kernel;
- objects the grader lends the student (a check's classifier), as a call of a
  ``cnnlib.grading`` factory that the kernel makes; only ``allow_factories=True``
  (the kernel's side) accepts these;
- anything else becomes an :class:`Opaque` placeholder that names its type, so a
  check can say what came back instead of failing to read it.

Layout of an encoded value: ``b"CNNW1\\n"``, an 8-byte little-endian header length,
a JSON header (the value, with arrays replaced by indexes into a table of dtype,
shape, offset and length), then the arrays' raw bytes.
"""

import importlib
import json
import math
import struct
from dataclasses import dataclass

import numpy as np

MAGIC = b"CNNW1\n"
MAX_DEPTH = 64
MAX_ITEMS = 2_000_000
ARRAY_KINDS = "biufc"


class WireError(ValueError):
    """Bytes that are not a value this module wrote, or a value it may not rebuild."""


@dataclass(frozen=True)
class FunctionRef:
    """A function that lives in the student's kernel, named by its path there (``conv2d``)."""

    path: str


@dataclass(frozen=True)
class Opaque:
    """A value that cannot cross as data: what type it was, and its repr (cut short)."""

    type_name: str
    text: str = ""

    def __repr__(self):
        return f"<{self.type_name} object that cannot be read as data>"


def lend(obj, factory, **kwargs):
    """Mark ``obj`` (made by the ``cnnlib.grading`` function ``factory``) as rebuildable in a kernel.

    factory: ``"module:qualname"`` under ``cnnlib.grading``; ``kwargs``: plain data such
    that ``factory(**kwargs)`` makes an equal object. Returns ``obj``.
    """
    obj.__wire_factory__ = (factory, kwargs)
    return obj


# ---------------------------------------------------------------- writing

def dumps(value, function_path=None, kind=None):
    """Encode ``value`` as bytes (see the module docstring for what is supported).

    function_path: the value's own name in the kernel; when the value itself is
    callable it is written as a :class:`FunctionRef` to that name (callables anywhere
    else, or without a name, become :class:`Opaque`).
    kind: a label sent beside the value; :func:`loads` then returns ``(kind, value)``.
    """
    arrays = []
    tree = _encode(value, arrays, function_path, 0)
    if kind is not None:
        tree = {"$tuple": [str(kind), tree]}
    chunks, table, offset = [], [], 0
    for array in arrays:
        data = np.ascontiguousarray(array).tobytes()
        table.append([array.dtype.str, list(array.shape), offset, len(data)])
        chunks.append(data)
        offset += len(data)
    header = json.dumps({"value": tree, "arrays": table}, allow_nan=True).encode()
    return MAGIC + struct.pack("<Q", len(header)) + header + b"".join(chunks)


def _encode(value, arrays, path, depth):
    if depth > MAX_DEPTH:
        return {"$opaque": ["nested too deeply", ""]}
    if isinstance(value, np.generic):      # before float: numpy's float64 is a Python float too
        if value.dtype.kind not in ARRAY_KINDS:
            return {"$opaque": [f"numpy {value.dtype} value", ""]}
        arrays.append(np.asarray(value))
        return {"$scalar": len(arrays) - 1}
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value) if abs(value) < 2 ** 63 else {"$bigint": str(int(value))}
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else {"$float": repr(float(value))}
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in ARRAY_KINDS:
            return {"$opaque": [f"numpy array of dtype {value.dtype}", ""]}
        arrays.append(value)
        return {"$array": len(arrays) - 1}
    if isinstance(value, (list, tuple)):
        items = [_encode(v, arrays, None, depth + 1) for v in value]
        return items if type(value) is list else {"$tuple": items}
    if isinstance(value, dict):
        if all(type(k) in (str, int) for k in value):
            return {"$dict": [[k, _encode(v, arrays, None, depth + 1)] for k, v in value.items()]}
        return {"$opaque": ["dict with keys that are not strings or ints", ""]}
    factory = getattr(value, "__wire_factory__", None) or getattr(getattr(value, "__self__", None),
                                                                  "__wire_factory__", None)
    if factory is not None:
        method = getattr(value, "__name__", None) if hasattr(value, "__self__") else None
        return {"$factory": [factory[0], _encode(factory[1], arrays, None, depth + 1), method]}
    model = _encode_model(value, arrays, depth)
    if model is not None:
        return model
    if callable(value) and path is not None:
        return {"$function": path}
    return {"$opaque": [type(value).__name__, _short_repr(value)]}


def _short_repr(value, limit=200):
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a student's __repr__ may raise
        text = ""
    return text if len(text) <= limit else text[:limit] + "..."


def _encode_model(value, arrays, depth):
    """A cnnlib Sequential or a Keras model as architecture and weights; None for anything else."""
    from ..model import Sequential

    if type(value) is Sequential:
        layers = [_encode_cnnlib_layer(layer, arrays, depth) for layer in value.layers]
        weights = [_encode(np.asarray(w), arrays, None, depth + 1) for w in value.get_weights()]
        return {"$cnnlib": {"layers": layers, "input_shape": _encode(value.input_shape, arrays, None, depth + 1),
                            "dtype": value.dtype.name, "weights": weights}}
    keras_model = _keras_model_class()
    if keras_model is not None and isinstance(value, keras_model):
        try:
            config = json.loads(json.dumps(value.get_config(), default=_refuse_in_config))
            weights = [_encode(np.asarray(w), arrays, None, depth + 1) for w in value.get_weights()]
            compiled = _keras_compile_config(value)
        except Exception as err:  # noqa: BLE001 - the model cannot be written as data
            return {"$opaque": [type(value).__name__, f"not serialisable: {err}"[:200]]}
        return {"$keras": {"class_name": type(value).__name__, "config": config, "weights": weights,
                           "compile": compiled}}
    return None


def _refuse_in_config(obj):
    raise TypeError(f"the model's configuration holds a {type(obj).__name__}, which is not data")


def _keras_compile_config(model):
    try:
        config = model.get_compile_config()
        return json.loads(json.dumps(config, default=_refuse_in_config)) if config else None
    except Exception:  # noqa: BLE001 - not compiled, or compiled with objects that are not data
        return None


def _keras_model_class():
    """tf.keras.Model when Keras is already imported (never import TensorFlow just to check)."""
    import sys

    keras = sys.modules.get("keras")
    return getattr(keras, "Model", None) if keras is not None else None


def _encode_cnnlib_layer(layer, arrays, depth):
    import inspect

    from .. import layers as L

    cls = type(layer)
    if getattr(L, cls.__name__, None) is not cls:
        return {"$opaque": [cls.__name__, "not a cnnlib.layers class"]}
    config = {}
    for name in inspect.signature(cls.__init__).parameters:
        if name != "self" and hasattr(layer, name):
            config[name] = _encode(_plain(getattr(layer, name)), arrays, None, depth + 2)
    return {"class_name": cls.__name__, "config": {"$dict": [[k, v] for k, v in config.items()]}}


def _plain(value):
    """Layer attributes as constructor arguments: dtypes as names, nested layers as specs."""
    if isinstance(value, np.dtype):
        return value.name
    return value


# ---------------------------------------------------------------- reading

def loads(data, allow_factories=False):
    """Decode bytes written by :func:`dumps`.

    allow_factories: rebuild objects lent by a check (``$factory``): the kernel's side
    only. The grader's side leaves it False, so nothing it reads can name code to run.

    Raises:
        WireError: the bytes are malformed, or name a class or factory not allowed.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)) or bytes(data[:len(MAGIC)]) != MAGIC:
        raise WireError("not a value written by cnnlib.grading.wire")
    start = len(MAGIC) + 8
    if len(data) < start:
        raise WireError("truncated header")
    (length,) = struct.unpack("<Q", bytes(data[len(MAGIC):start]))
    if length > len(data) - start:
        raise WireError("truncated header")
    try:
        header = json.loads(bytes(data[start:start + length]))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise WireError(f"unreadable header: {type(err).__name__}") from None
    if not isinstance(header, dict) or not isinstance(header.get("arrays"), list):
        raise WireError("malformed header")
    blob = memoryview(data)[start + length:]
    try:
        arrays = [_read_array(entry, blob) for entry in header["arrays"]]
        return _Reader(arrays, allow_factories).value(header.get("value"), 0)
    except WireError:
        raise
    except (ValueError, TypeError, OverflowError, RecursionError) as err:   # a malformed number, say
        raise WireError(f"malformed value: {type(err).__name__}: {err}"[:300]) from None


def _read_array(entry, blob):
    if not (isinstance(entry, list) and len(entry) == 4):
        raise WireError("malformed array entry")
    dtype_text, shape, offset, size = entry
    try:
        dtype = np.dtype(dtype_text)
    except TypeError:
        raise WireError(f"unknown dtype {dtype_text!r}") from None
    if dtype.kind not in ARRAY_KINDS or dtype.hasobject or dtype.fields is not None:
        raise WireError(f"dtype {dtype_text!r} is not plain numbers")
    if not (isinstance(shape, list) and all(isinstance(n, int) and n >= 0 for n in shape)):
        raise WireError("malformed array shape")
    count = math.prod(shape)
    if not (isinstance(offset, int) and isinstance(size, int)) or size != count * dtype.itemsize \
            or offset < 0 or offset + size > len(blob):
        raise WireError("array bytes do not match its shape")
    return np.frombuffer(blob[offset:offset + size], dtype=dtype).reshape(shape).copy()


class _Reader:
    def __init__(self, arrays, allow_factories):
        self.arrays, self.allow_factories, self.items = arrays, allow_factories, 0

    def value(self, node, depth):
        self.items += 1
        if depth > MAX_DEPTH or self.items > MAX_ITEMS:
            raise WireError("value nested too deeply or too large")
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.value(v, depth + 1) for v in node]
        if not (isinstance(node, dict) and len(node) == 1):
            raise WireError("malformed value")
        (tag, body), = node.items()
        if tag in ("$array", "$scalar"):
            if not isinstance(body, int) or not 0 <= body < len(self.arrays):
                raise WireError("array index out of range")
            array = self.arrays[body]
            return array if tag == "$array" else array[()]
        if tag == "$tuple":
            return tuple(self.value(v, depth + 1) for v in self._list(body))
        if tag == "$dict":
            out = {}
            for pair in self._list(body):
                if not (isinstance(pair, list) and len(pair) == 2 and type(pair[0]) in (str, int)):
                    raise WireError("malformed dict entry")
                out[pair[0]] = self.value(pair[1], depth + 1)
            return out
        if tag == "$bigint":
            return int(self._text(body))
        if tag == "$float":
            return float(self._text(body))
        if tag == "$function":
            return FunctionRef(self._text(body))
        if tag == "$opaque":
            kind, text = self._list(body) if isinstance(body, list) and len(body) == 2 else ("?", "")
            return Opaque(str(kind)[:200], str(text)[:400])
        if tag == "$cnnlib":
            return _rebuild_cnnlib(self, body, depth)
        if tag == "$keras":
            return _rebuild_keras(self, body, depth)
        if tag == "$factory":
            if not self.allow_factories:
                raise WireError("a factory call may only be rebuilt in the student's kernel")
            return _rebuild_factory(self, body, depth)
        raise WireError(f"unknown tag {tag!r}")

    @staticmethod
    def _list(body):
        if not isinstance(body, list):
            raise WireError("malformed value")
        return body

    @staticmethod
    def _text(body):
        if not isinstance(body, str) or len(body) > 10_000:
            raise WireError("malformed value")
        return body


def _rebuild_factory(reader, body, depth):
    if not (isinstance(body, list) and len(body) == 3):
        raise WireError("malformed factory")
    path, kwargs, method = body
    module_name, _, qualname = str(path).partition(":")
    if not module_name.startswith("cnnlib.grading.") or not qualname:
        raise WireError(f"factory {path!r} is not one of cnnlib.grading's")
    obj = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    made = obj(**reader.value(kwargs, depth + 1))
    return getattr(made, method) if method else made


# ---------------------------------------------------------------- rebuilding models

def _rebuild_cnnlib(reader, body, depth):
    """A cnnlib Sequential from layer class names (cnnlib.layers only), arguments and weights."""
    from .. import layers as L
    from ..model import Sequential

    if not isinstance(body, dict):
        raise WireError("malformed cnnlib model")
    built = []
    for spec in reader._list(body.get("layers")):
        if not isinstance(spec, dict) or "class_name" not in spec:
            kind = spec.get("$opaque", ["?"])[0] if isinstance(spec, dict) else "?"
            raise WireError(f"the model holds a layer that is not one of cnnlib.layers ({kind})")
        cls = getattr(L, str(spec["class_name"]), None)
        if not (isinstance(cls, type) and issubclass(cls, L.Layer) and cls.__module__ == L.__name__):
            raise WireError(f"{spec['class_name']!r} is not a cnnlib layer")
        config = reader.value(spec.get("config"), depth + 1)
        if not isinstance(config, dict) or any(isinstance(v, (FunctionRef, Opaque)) for v in config.values()):
            raise WireError(f"the arguments of a {spec['class_name']} layer are not plain data")
        try:
            built.append(cls(**config))
        except (TypeError, ValueError) as err:
            raise WireError(f"cannot rebuild a {spec['class_name']} layer: {err}") from None
    input_shape = reader.value(body.get("input_shape"), depth + 1)
    weights = [reader.value(w, depth + 1) for w in reader._list(body.get("weights"))]
    try:
        model = Sequential(built, input_shape=input_shape, dtype=body.get("dtype", "float32"))
        model.set_weights(weights)
    except (TypeError, ValueError) as err:
        raise WireError(f"cannot rebuild the cnnlib model: {err}") from None
    return model


# Keras classes a rebuilt model may use: layers of a course CNN, and what their configs hold.
KERAS_CLASSES = frozenset({
    "Sequential", "Functional", "Model", "InputLayer", "Conv2D", "SeparableConv2D", "DepthwiseConv2D",
    "Conv2DTranspose", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
    "Flatten", "Dense", "Dropout", "SpatialDropout2D", "ReLU", "LeakyReLU", "Activation", "Softmax",
    "BatchNormalization", "LayerNormalization", "ZeroPadding2D", "Cropping2D", "Reshape", "Add", "Concatenate",
    "Rescaling", "RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom", "UpSampling2D",
    # what layer configs hold: initializers, regularizers, constraints, dtype policies
    "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal", "Zeros", "Ones",
    "Constant", "RandomNormal", "RandomUniform", "TruncatedNormal", "VarianceScaling", "Orthogonal",
    "L1", "L2", "L1L2", "MaxNorm", "NonNeg", "UnitNorm", "MinMaxNorm", "DTypePolicy", "FloatDTypePolicy",
})
KERAS_ACTIVATIONS = frozenset({"linear", "relu", "sigmoid", "tanh", "softmax", "elu", "selu", "gelu", "swish",
                               "silu", "softplus", "leaky_relu", "relu6", "hard_sigmoid", None})


def check_keras_config(node, where="model"):
    """Raise :class:`WireError` unless every class in a Keras config is a known Keras one.

    Keras rebuilds a model by importing the module and class each config names; only
    classes of :data:`KERAS_CLASSES` from Keras's own modules pass, and activations
    must be named (no functions, no ``Lambda``).
    """
    if isinstance(node, list):
        for item in node:
            check_keras_config(item, where)
    elif isinstance(node, dict):
        if "class_name" in node:
            name, module = node.get("class_name"), node.get("module")
            if name not in KERAS_CLASSES or not (module is None or str(module).startswith("keras")):
                raise WireError(f"the {where} uses {name!r} ({module}), which the grader does not rebuild: "
                                f"use Keras's standard layers")
            if node.get("registered_name") not in (None, name):
                raise WireError(f"the {where} uses a registered custom object {node.get('registered_name')!r}")
        activation = node.get("activation")
        if "activation" in node and not (isinstance(activation, str) or activation is None):
            raise WireError(f"the {where} uses an activation that is not one of Keras's named ones")
        if isinstance(activation, str) and activation not in KERAS_ACTIVATIONS:
            raise WireError(f"the {where} uses the activation {activation!r}, which the grader does not know")
        for key, value in node.items():
            if key != "activation":
                check_keras_config(value, where)


def _rebuild_keras(reader, body, depth):
    import tensorflow as tf

    if not isinstance(body, dict):
        raise WireError("malformed Keras model")
    kind, config = body.get("class_name"), body.get("config")
    check_keras_config({"class_name": kind if kind in ("Sequential", "Functional") else "Functional",
                        "config": config})
    weights = [reader.value(w, depth + 1) for w in reader._list(body.get("weights"))]
    try:
        cls = tf.keras.Sequential if kind == "Sequential" else tf.keras.Model
        model = cls.from_config(config)
        model.set_weights(weights)
    except Exception as err:  # noqa: BLE001 - any failure to rebuild is a refusal
        raise WireError(f"cannot rebuild the Keras model: {type(err).__name__}: {err}"[:400]) from None
    compiled = body.get("compile")
    if isinstance(compiled, dict):
        model.__wire_compile_config__ = compiled
    return model
