"""A real model to look at: the small CNN of the visualization notebook, and a way to train it.

    demo_cnn(seed)           the network, in cnnlib, untrained
    train_demo_cnn(epochs)   it, trained in Keras (through ``to_keras``) on the MNIST subset
"""

from typing import NamedTuple

from ..arguments import check_int

__all__ = ["demo_cnn", "train_demo_cnn", "DemoCNN"]


def demo_cnn(seed=0):
    """The small CNN of the visualization notebook, in cnnlib, untrained:
    conv1 (16 @ 3x3) -> relu1 -> pool1 (2x2) -> conv2 (32 @ 3x3) -> relu2 -> pool2
    -> flatten -> logits (10), 12,810 weights, for (28, 28, 1) digits.
    ``seed`` fixes the initial weights."""
    from .. import layers as L
    from ..model import Sequential

    return Sequential([L.Conv2D(16, 3, name="conv1"), L.ReLU(name="relu1"), L.MaxPool2D(2, name="pool1"),
                       L.Conv2D(32, 3, name="conv2"), L.ReLU(name="relu2"), L.MaxPool2D(2, name="pool2"),
                       L.Flatten(name="flatten"), L.Dense(10, name="logits")],
                      input_shape=(28, 28, 1), seed=seed)


class DemoCNN(NamedTuple):
    """What :func:`train_demo_cnn` returns: the trained ``keras_model`` (outputs logits),
    ``model`` (the cnnlib network with the same trained weights), and the Keras
    ``history`` (loss, accuracy, val_loss, val_accuracy per epoch; "val" is the
    validation split, not the test set)."""

    keras_model: object
    model: object
    history: object


def train_demo_cnn(epochs=5, seed=0, batch_size=32, verbose=0):
    """Train :func:`demo_cnn` in Keras on the MNIST subset: a real model for the notebooks.

    The cnnlib network is built with ``seed``, turned into Keras with ``to_keras``
    (layer names kept), trained with Adam(1e-3) on the 3,000 training digits of
    ``cnnlib.data.load_mnist_subset(validation_size=1000)`` and validated after each
    epoch on its 1,000 validation digits; the 1,000 test digits are not touched, so
    they stay an honest final measurement. The trained weights are copied back into
    the cnnlib network. ``tf.random.set_seed(seed)`` is called so that the shuffling
    repeats.

    Returns:
        A :class:`DemoCNN` (keras_model, model, history). The Keras model outputs
        logits; ``tf.nn.softmax(keras_model(x))`` or ``model.predict(x)`` gives
        probabilities.

    Raises:
        ValueError: epochs or batch_size below 1.
    """
    import tensorflow as tf

    from ..data import load_mnist_subset
    from ..keras_bridge import to_keras

    epochs = check_int("epochs", epochs, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    (x_train, y_train), (x_val, y_val), _ = load_mnist_subset(validation_size=1000)
    model = demo_cnn(seed)
    keras_model = to_keras(model)
    keras_model.compile(optimizer=tf.keras.optimizers.Adam(1e-3),
                        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                        metrics=["accuracy"])
    tf.random.set_seed(seed)
    history = keras_model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size,
                              validation_data=(x_val, y_val), verbose=verbose)
    model.set_weights(keras_model.get_weights())
    return DemoCNN(keras_model, model, history)
