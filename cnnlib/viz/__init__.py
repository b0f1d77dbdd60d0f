"""Seeing what a CNN sees and what it learned.

Pictures (:mod:`cnnlib.viz.pictures`; each returns a matplotlib ``Figure`` and never
calls ``pyplot``, so it works with the Agg backend, shows once in a notebook and leaves
no figure open):

    show_matrix(img)                  an image with each pixel's value written in its cell
    show_channels(rgb)                an RGB image and its R, G, B channels
    show_images(images)               a grid of images or maps (patches, for example)
    show_kernels(w)                   the filters of an HWIO kernel
    show_feature_maps(model, image, layer)   a layer's output channels for one image
    plot_history(history)             loss and accuracy per epoch (cnnlib, Keras or a dict)

Inside a model (:mod:`cnnlib.viz.inspection`; NumPy arrays, no plotting):

    feature_maps(model, images, layer)       a layer's output, for cnnlib and Keras models
    top_activating_patches(model, images, layer, channel, k)

Which pixels a prediction depends on (:mod:`cnnlib.viz.attribution`):

    occlusion_map(predict_fn, image, label, patch_size, stride, fill)
    saliency_map(model, image, label)        |d score / d pixel| with tf.GradientTape
    grad_cam(model, image, label, layer)     Grad-CAM heat map of a conv layer

and a real model to look at (:mod:`cnnlib.viz.demo`): ``train_demo_cnn()`` trains
:func:`demo_cnn` (a cnnlib network) in Keras, through ``to_keras``, on the MNIST subset
in a few seconds.

``model`` is a cnnlib ``Sequential`` or a Keras model; ``layer`` a layer's name
or index. Images are NHWC, one image (H, W, C) or (H, W). Importing this package imports
matplotlib; TensorFlow is imported only inside the functions that need it (the Keras
models, the gradient maps and the demo's training).
"""

from .attribution import grad_cam, occlusion_map, saliency_map
from .demo import DemoCNN, demo_cnn, train_demo_cnn
from .inspection import TopPatches, feature_maps, top_activating_patches
from .pictures import MAX_MATRIX_CELLS, plot_history, show_channels, show_feature_maps, show_images, show_kernels, \
    show_matrix

__all__ = ["show_matrix", "show_channels", "show_images", "show_kernels", "show_feature_maps",
           "plot_history", "feature_maps", "occlusion_map", "saliency_map", "grad_cam",
           "top_activating_patches", "TopPatches", "demo_cnn", "train_demo_cnn", "DemoCNN", "MAX_MATRIX_CELLS"]
