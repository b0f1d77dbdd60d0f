"""cnnlib.architectures: traces against Keras's own layers and against the published figures.

Three independent references: Keras (the same spec built with build_keras, and
tf.keras.applications.VGG16), the numbers printed in the papers, and receptive
fields measured as the support of a gradient.
"""

import numpy as np
import pytest

from cnnlib import architectures as A

SPECS = {
    "lenet5_keras": lambda: A.lenet5(paper=False),
    "alexnet": A.alexnet,
    "vgg16": A.vgg16,
    "nin_block": A.nin_block,
    "inception_module": A.inception_module,
    "resnet_basic_block": A.resnet_basic_block,
    "resnet_basic_block_downsampling": lambda: A.resnet_basic_block(128, strides=2),
    "resnet_bottleneck_block": A.resnet_bottleneck_block,
    "resnet_bottleneck_block_downsampling": lambda: A.resnet_bottleneck_block(128, strides=2),
}


@pytest.fixture(scope="module")
def keras_models(tf):
    """Every spec built once in Keras (AlexNet and VGG-16 take a few seconds)."""
    return {name: A.build_keras(make()) for name, make in SPECS.items()}


def keras_row(model, name):
    layer = model.get_layer(name)
    return tuple(int(d) for d in layer.output.shape[1:]), layer.count_params()


@pytest.mark.parametrize("name", list(SPECS))
def test_every_row_equals_the_keras_layer_of_the_same_name(keras_models, name):
    spec, model = SPECS[name](), keras_models[name]
    t = A.trace(spec)
    for row in t.rows:
        assert (row.output_shape, row.params) == keras_row(model, row.layer), row.layer
    assert t.total_params == model.count_params()
    assert t.output_shape == tuple(model.output.shape[1:])


# Published figures: LeCun et al. 1998 (section II.B gives each layer's trainable parameters),
# Krizhevsky et al. 2012 ("60 million parameters"), Simonyan and Zisserman 2014 (138M),
# Szegedy et al. 2014 (inception 3a: 28x28x256 out).
LENET5_PAPER = [("C1", (28, 28, 6), 156), ("S2", (14, 14, 6), 12), ("C3", (10, 10, 16), 1516),
                ("S4", (5, 5, 16), 32), ("C5", (1, 1, 120), 48120), ("flatten", (120,), 0),
                ("F6", (84,), 10164), ("output", (10,), 840)]


def test_lenet5_matches_the_paper_layer_by_layer():
    t = A.trace(A.lenet5())
    assert [(r.layer, r.output_shape, r.params) for r in t.rows] == LENET5_PAPER
    assert t.total_params == 60840
    # The partial table: 6 maps of 3 inputs, 9 of 4, 1 of 6 (60 connections of 96).
    assert sorted(map(len, A.LENET5_C3_TABLE)) == [3] * 6 + [4] * 9 + [6]
    assert len(set(A.LENET5_C3_TABLE)) == 16


def test_lenet5_in_keras_differs_only_where_keras_cannot_express_the_paper(keras_models, tf):
    paper, model = A.trace(A.lenet5()), A.build_keras(A.lenet5())
    differ = {r.layer: keras_row(model, r.layer)[1] for r in paper.rows
              if (r.output_shape, r.params) != keras_row(model, r.layer)}
    # Full C3: 16 * (5*5*6 + 1); pooling has no coefficient and bias; the RBF units become a
    # Dense layer without bias (84 * 10, the same count).
    assert differ == {"S2": 0, "C3": 2416, "S4": 0}
    assert A.trace(A.lenet5(paper=False)).total_params == keras_models["lenet5_keras"].count_params() == 61706


def test_alexnet_total_against_hand_count_and_the_paper():
    t = A.trace(A.alexnet())
    by_hand = ((11 * 11 * 3 * 96 + 96) + (5 * 5 * 96 * 256 + 256) + (3 * 3 * 256 * 384 + 384)
               + (3 * 3 * 384 * 384 + 384) + (3 * 3 * 384 * 256 + 256)
               + (6 * 6 * 256 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000))
    assert t.total_params == by_hand == 62378344
    assert 60e6 <= t.total_params <= 63e6    # "60 million parameters" (two-tower original: fewer)
    assert [r.output_shape for r in t.rows if r.layer.startswith("pool")] == \
           [(27, 27, 96), (13, 13, 256), (6, 6, 256)]


def test_vgg16_equals_keras_applications(tf, keras_models):
    t = A.trace(A.vgg16())
    assert t.total_params == 138357544
    reference = tf.keras.applications.VGG16(weights=None)   # random weights: nothing downloaded
    assert reference.count_params() == t.total_params
    for row in t.rows:
        assert (row.output_shape, row.params) == keras_row(reference, row.layer), row.layer


def test_inception_3a_output_and_branch_counts():
    t = A.trace(A.inception_module())
    rows = {r.layer: r for r in t.rows}
    assert t.output_shape == (28, 28, 256)
    assert rows["b2_3x3"].params == 3 * 3 * 96 * 128 + 128
    assert rows["b3_5x5"].params == 5 * 5 * 16 * 32 + 32
    assert rows["concat"].params == 0


def test_resnet_blocks_choose_the_shortcut_from_the_shapes():
    names = lambda spec: [r.layer for r in A.trace(spec).rows]   # noqa: E731
    assert "proj" not in names(A.resnet_basic_block())
    assert "proj" in names(A.resnet_basic_block(128, strides=2))
    assert "proj" in names(A.resnet_basic_block(128, input_shape=(56, 56, 64)))  # channels change
    # Basic block, 64 channels: two 3x3x64x64 kernels without bias and two batch norms.
    assert A.trace(A.resnet_basic_block()).total_params == 2 * 3 * 3 * 64 * 64 + 2 * 4 * 64


# Published receptive fields: Araujo, Norris and Sim, "Computing Receptive Fields of
# Convolutional Neural Networks", Distill 2019, Table 1 (VGG 16: 212; AlexNet v2: 195,
# which has AlexNet's geometry), both at the last pooling layer.
def test_receptive_fields_match_published_values():
    vgg = {r.layer: r.receptive_field for r in A.trace(A.vgg16()).rows}
    alex = {r.layer: r.receptive_field for r in A.trace(A.alexnet()).rows}
    assert vgg["block5_pool"] == 212 and vgg["block1_conv2"] == 5
    assert alex["pool5"] == 195 and alex["conv1"] == 11


def test_receptive_field_is_the_support_of_a_gradient(tf):
    """With all-ones kernels and no activations, a unit's gradient is nonzero on exactly the
    pixels it sees: count them and compare with the trace."""
    spec = A.Spec("probe", (A.Conv(2, 3, activation=None, name="a"), A.Pool(2, mode="avg", name="p"),
                            A.Conv(2, 3, dilation=2, activation=None, name="b"),
                            A.Conv(1, (5, 3), strides=2, activation=None, name="c")), (64, 64, 1))
    model = A.build_keras(spec)
    for layer in model.layers:
        if layer.weights:
            layer.set_weights([np.ones(w.shape, np.float32) for w in layer.get_weights()])
    x = tf.zeros((1, 64, 64, 1))
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = model(x)
        unit = out[0, out.shape[1] // 2, out.shape[2] // 2, 0]
    support = np.argwhere(tape.gradient(unit, x).numpy()[0, :, :, 0] != 0)
    extent = tuple(int(v) for v in support.max(axis=0) - support.min(axis=0) + 1)
    assert A.trace(spec).rows[-1].receptive_field == extent == (20, 16)   # rows 1+2+1+8+8, columns 1+2+1+8+4


def test_trace_renders_as_text_and_html():
    t = A.trace(A.lenet5())
    text, page = str(t), t._repr_html_()
    assert "Total params: 60,840" in text and "1,516" in text and "C3" in text
    assert page.count("<tr>") == len(t.rows) + 2 and "60,840" in page
    assert "LeNet-5" in repr(t)


def test_input_shape_argument_overrides_the_spec():
    t = A.trace(A.nin_block(), (227, 227, 3))
    assert t.rows[0].output_shape == (55, 55, 96)


@pytest.mark.parametrize("spec, shape, message", [
    (A.alexnet(), (10, 10, 3), "conv1"),                     # an 11x11 kernel does not fit
    (A.vgg16(), (224, 224), "input_shape"),
    (A.Spec("no flatten", (A.Dense(3, name="d"),), (4, 4, 1)), None, "Flatten"),
    (A.Spec("twice", (A.Conv(1, 1, name="x"), A.Conv(1, 1, name="x")), (4, 4, 1)), None, "'x'"),
    (A.Spec("bad add", (A.Residual((A.Conv(2, 1, name="c"),)),), (4, 4, 1)), None, "shortcut"),
    (A.Spec("bad concat", (A.Branches(((A.Conv(2, 1, name="c"),), (A.Pool(2, name="p"),))),), (4, 4, 1)),
     None, "height and width"),
    (A.Spec("bad table", (A.Conv(2, 1, connections=((0,), (3,)), name="t"),), (4, 4, 2)), None, "connections"),
])
def test_impossible_specs_raise_errors_that_name_the_culprit(spec, shape, message):
    with pytest.raises(ValueError, match=message):
        A.trace(spec, shape)


def test_trace_refuses_something_that_is_not_a_spec():
    with pytest.raises(TypeError, match="spec"):
        A.trace([A.Conv(1, 1)], (4, 4, 1))


def test_every_public_name_has_a_docstring():
    import inspect

    for name in A.__all__:
        obj = getattr(A, name)
        if callable(obj):
            assert inspect.getdoc(obj), name
            for attr, member in vars(obj).items() if inspect.isclass(obj) else ():
                if callable(member) and not attr.startswith("_"):
                    assert inspect.getdoc(getattr(obj, attr)), f"{name}.{attr}"
