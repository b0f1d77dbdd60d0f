"""Classic CNN architectures as data: LeNet-5, AlexNet, VGG-16 and the blocks of NiN, Inception, ResNet.

Each function below returns a :class:`Spec`, a plain description of a network
(no weights, no framework) written in the layer nodes of :mod:`cnnlib.specs`
(:class:`Conv`, :class:`Pool`, :class:`Dense`, ..., :class:`Branches`, :class:`Residual`;
all importable from here too). Two things can be done with a spec:

    trace(spec, input_shape)        every layer's output shape, parameter count and
                                    receptive field (cnnlib.tracing, the course's one tracer)
    build_keras(spec, input_shape)  the same network in tf.keras, untrained (cnnlib.keras_bridge;
                                    it imports TensorFlow when called and never downloads weights)

Activations are NHWC without the batch axis, (H, W, C); flat ones are (D,).
Receptive fields are in input pixels and count padding, so a late layer's can
exceed the image (VGG-16's fc1 sees 404 x 404 of a 224 x 224 image).

This module imports neither TensorFlow nor matplotlib.
"""

from .keras_bridge import build_keras
from .specs import (RBF, Activation, BatchNorm, Branches, Conv, Dense, Dropout, Flatten, GlobalAvgPool, Node, Pool,
                    Residual, Spec, Subsample, check_spec)
from .tracing import Row, Trace, walk

__all__ = [
    "Node", "Conv", "Pool", "Subsample", "GlobalAvgPool", "Flatten", "Dense", "RBF", "Dropout", "BatchNorm",
    "Activation", "Branches", "Residual", "Spec", "Row", "Trace",
    "lenet5", "alexnet", "vgg16", "nin_block", "inception_module", "resnet_basic_block",
    "resnet_bottleneck_block", "trace", "build_keras", "LENET5_C3_TABLE",
]


# LeNet-5's C3 (LeCun et al. 1998, Table I): the S2 maps each of the 16 C3 maps reads.
# Six read 3 neighbouring maps, six read 4 neighbouring maps, three read 4 maps that are not
# all neighbours, and the last reads all 6: 60 of the 96 possible (map, map) connections.
LENET5_C3_TABLE = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 0), (4, 5, 0, 1), (5, 0, 1, 2),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


def lenet5(paper=True):
    """LeNet-5 (LeCun, Bottou, Bengio, Haffner 1998) on 32 x 32 x 1 digits.

    C1 conv 6@5x5 (156 parameters) -> S2 subsampling (12) -> C3 conv 16@5x5 (1,516)
    -> S4 subsampling (32) -> C5 conv 120@5x5 (48,120) -> F6 dense 84 (10,164)
    -> output 10 RBF units (840): 60,840 parameters.

    C3 is only partially connected (:data:`LENET5_C3_TABLE`): the paper did it to
    keep the count down (1,516 instead of 2,416 for full connections) and to
    break the symmetry between maps, each seeing a different set of inputs.

    Arguments:
        paper: True (default) gives the paper's network. False gives the variant
            that Keras expresses exactly and that :func:`build_keras` builds in
            both cases: C3 fully connected, S2 and S4 as average pooling without
            parameters, the output a Dense layer of 10 (61,706 parameters).

    Returns:
        A :class:`Spec` with input shape (32, 32, 1).
    """
    if paper:
        c3 = Conv(16, 5, activation="tanh", connections=LENET5_C3_TABLE, name="C3")
        s2, s4 = Subsample(2, name="S2"), Subsample(2, name="S4")
        out = RBF(10, name="output")
    else:
        c3 = Conv(16, 5, activation="tanh", name="C3")
        s2, s4 = Pool(2, mode="avg", name="S2"), Pool(2, mode="avg", name="S4")
        out = Dense(10, activation="softmax", name="output")
    layers = (Conv(6, 5, activation="tanh", name="C1"), s2, c3, s4,
              Conv(120, 5, activation="tanh", name="C5"), Flatten(name="flatten"),
              Dense(84, activation="tanh", name="F6"), out)
    notes = ("LeNet-5 as in the 1998 paper: C3 partially connected, trainable subsampling, RBF output. "
             "build_keras: C3 full, average pooling, Dense output." if paper else
             "LeNet-5 as Keras expresses it: C3 full, average pooling, Dense output.")
    return Spec("LeNet-5" if paper else "LeNet-5 (Keras variant)", layers, (32, 32, 1), notes)


def alexnet(num_classes=1000):
    """AlexNet (Krizhevsky, Sutskever, Hinton 2012) as a single tower on 227 x 227 x 3.

    conv1 96@11x11 stride 4 -> max pool 3 stride 2 -> conv2 256@5x5 pad 2 -> pool
    -> conv3 384@3x3 -> conv4 384@3x3 -> conv5 256@3x3 -> pool -> fc6 4096 -> fc7 4096
    -> fc8 ``num_classes``, with dropout 0.5 before fc6 and fc7. With 1000 classes:
    62,378,344 parameters (the paper says "60 million").

    The paper split conv2, conv4, conv5 over two GPUs, each half seeing only its own
    half of the channels (fewer parameters); this is the usual one-tower version. Its
    local response normalization is left out (no parameters; Keras has no such layer).

    Returns:
        A :class:`Spec` with input shape (227, 227, 3) (the paper's "224" does not
        tile with an 11 x 11 kernel at stride 4).
    """
    layers = (Conv(96, 11, strides=4, name="conv1"), Pool(3, 2, name="pool1"),
              Conv(256, 5, padding=2, name="conv2"), Pool(3, 2, name="pool2"),
              Conv(384, 3, padding=1, name="conv3"), Conv(384, 3, padding=1, name="conv4"),
              Conv(256, 3, padding=1, name="conv5"), Pool(3, 2, name="pool5"),
              Flatten(name="flatten"), Dropout(0.5, name="drop6"), Dense(4096, name="fc6"),
              Dropout(0.5, name="drop7"), Dense(4096, name="fc7"),
              Dense(num_classes, activation="softmax", name="fc8"))
    return Spec("AlexNet", layers, (227, 227, 3),
                "single tower, no local response normalization")


def vgg16(num_classes=1000):
    """VGG-16 (Simonyan and Zisserman 2014, configuration D) on 224 x 224 x 3.

    Thirteen 3 x 3 convolutions with padding 1 in five blocks of 2, 2, 3, 3, 3
    (64, 128, 256, 512, 512 filters), each block ending in a 2 x 2 max pool, then
    fc 4096, fc 4096, fc ``num_classes``: 138,357,544 parameters with 1000 classes.
    Layer names are those of ``tf.keras.applications.VGG16`` (block1_conv1, ...,
    fc1, fc2, predictions).

    Returns:
        A :class:`Spec` with input shape (224, 224, 3).
    """
    layers = []
    for block, (filters, repeats) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], 1):
        layers += [Conv(filters, 3, padding=1, name=f"block{block}_conv{i}") for i in range(1, repeats + 1)]
        layers.append(Pool(2, name=f"block{block}_pool"))
    layers += [Flatten(name="flatten"), Dense(4096, name="fc1"), Dense(4096, name="fc2"),
               Dense(num_classes, activation="softmax", name="predictions")]
    return Spec("VGG-16", tuple(layers), (224, 224, 3), "configuration D of the paper")


def nin_block(filters=96, kernel_size=11, strides=4, padding=0, input_shape=(224, 224, 3)):
    """A Network-in-Network block (Lin, Chen, Yan 2013): one ordinary convolution followed
    by two 1 x 1 convolutions, all with ``filters`` channels and ReLU.

    The 1 x 1 convolutions are a small fully connected network applied at every
    pixel, across channels; they add depth without touching the receptive field.
    The defaults are an AlexNet-sized first block (96@11x11 stride 4).

    Returns:
        A :class:`Spec` with the given ``input_shape``.
    """
    layers = (Conv(filters, kernel_size, strides=strides, padding=padding, name="conv"),
              Conv(filters, 1, name="mlp1"), Conv(filters, 1, name="mlp2"))
    return Spec("NiN block", layers, tuple(input_shape))


def inception_module(f1x1=64, f3x3_reduce=96, f3x3=128, f5x5_reduce=16, f5x5=32, pool_proj=32,
                     input_shape=(28, 28, 192)):
    """An Inception module (Szegedy et al. 2014); the defaults are GoogLeNet's inception (3a).

    Four branches on the same input, concatenated along channels:
    1x1 ``f1x1``; 1x1 ``f3x3_reduce`` -> 3x3 ``f3x3``; 1x1 ``f5x5_reduce`` -> 5x5 ``f5x5``;
    3x3 max pool (stride 1, same) -> 1x1 ``pool_proj``. All keep the height and
    width, so 28 x 28 x 192 becomes 28 x 28 x (64 + 128 + 32 + 32) = 28 x 28 x 256.
    The 1x1 "reduce" convolutions cut the channels before the expensive kernels.

    Returns:
        A :class:`Spec` with the given ``input_shape``.
    """
    branches = ((Conv(f1x1, 1, name="b1_1x1"),),
                (Conv(f3x3_reduce, 1, name="b2_3x3_reduce"), Conv(f3x3, 3, padding="same", name="b2_3x3")),
                (Conv(f5x5_reduce, 1, name="b3_5x5_reduce"), Conv(f5x5, 5, padding="same", name="b3_5x5")),
                (Pool(3, 1, padding="same", name="b4_pool"), Conv(pool_proj, 1, name="b4_pool_proj")))
    return Spec("Inception module", (Branches(branches, name="concat"),), tuple(input_shape))


def _shortcut(input_shape, channels, strides):
    """Identity when the shape is kept, else a 1x1 projection with batch norm."""
    if strides == 1 and input_shape[-1] == channels:
        return ()
    return (Conv(channels, 1, strides=strides, activation=None, use_bias=False, name="proj"),
            BatchNorm(name="proj_bn"))


def resnet_basic_block(filters=64, strides=1, input_shape=(56, 56, 64)):
    """A ResNet basic block (He et al. 2015): two 3x3 convolutions and a shortcut, added.

    body: conv 3x3 ``filters`` (stride ``strides``) -> BN -> ReLU -> conv 3x3 -> BN;
    shortcut: the identity when the shape is kept, else a 1x1 convolution with
    stride ``strides`` and BN (the paper's option B); then ReLU after the sum.
    Convolutions have no bias (batch norm's shift replaces it).

    Returns:
        A :class:`Spec` with the given ``input_shape``.
    """
    body = (Conv(filters, 3, strides=strides, padding="same", activation=None, use_bias=False, name="conv1"),
            BatchNorm(name="bn1"), Activation("relu", name="relu1"),
            Conv(filters, 3, padding="same", activation=None, use_bias=False, name="conv2"),
            BatchNorm(name="bn2"))
    layers = (Residual(body, _shortcut(input_shape, filters, strides), name="add"),
              Activation("relu", name="out_relu"))
    return Spec("ResNet basic block", layers, tuple(input_shape))


def resnet_bottleneck_block(filters=64, strides=1, expansion=4, input_shape=(56, 56, 256)):
    """A ResNet bottleneck block (He et al. 2015): 1x1 reduce, 3x3, 1x1 expand, plus a shortcut.

    body: conv 1x1 ``filters`` -> BN -> ReLU -> conv 3x3 ``filters`` (stride ``strides``)
    -> BN -> ReLU -> conv 1x1 ``expansion * filters`` -> BN; shortcut as in
    :func:`resnet_basic_block`; ReLU after the sum. The stride sits on the 3x3
    convolution (as in torchvision's "ResNet v1.5"; the paper put it on the first
    1x1, with the same shapes and parameter count).

    Returns:
        A :class:`Spec` with the given ``input_shape``.
    """
    out = expansion * filters
    body = (Conv(filters, 1, activation=None, use_bias=False, name="conv1"), BatchNorm(name="bn1"),
            Activation("relu", name="relu1"),
            Conv(filters, 3, strides=strides, padding="same", activation=None, use_bias=False, name="conv2"),
            BatchNorm(name="bn2"), Activation("relu", name="relu2"),
            Conv(out, 1, activation=None, use_bias=False, name="conv3"), BatchNorm(name="bn3"))
    layers = (Residual(body, _shortcut(input_shape, out, strides), name="add"),
              Activation("relu", name="out_relu"))
    return Spec("ResNet bottleneck block", layers, tuple(input_shape))


def trace(spec, input_shape=None):
    """Every layer's output shape, parameter count and receptive field, worked out with cnnlib.shapes.

    Arguments:
        spec: a :class:`Spec` (from :func:`lenet5`, :func:`vgg16`, ...).
        input_shape: (H, W, C) of one input image; default ``spec.input_shape``.

    Returns:
        A :class:`Trace`: ``.rows`` lists one :class:`Row` per layer, depth first
        (a branch's or residual body's layers, then the concatenation or sum);
        ``.total_params`` is their sum. Receptive fields are in input pixels.

    Raises:
        TypeError: spec is not a Spec.
        ValueError: input_shape is not (H, W, C), a layer cannot take its input
            (the message names the layer and the shape), branches that do not fit
            together, or a layer name used twice.
    """
    input_shape = check_spec(spec, input_shape)
    return Trace.of(spec.name, input_shape, walk(spec.layers, input_shape))
