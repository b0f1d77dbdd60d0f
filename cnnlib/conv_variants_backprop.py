"""Backward passes of :mod:`cnnlib.conv_variants`, in the same order and with the same names.

As in :mod:`cnnlib.backprop`, each ``<op>_backward`` takes ``dout`` (the
gradient of the loss with respect to the op's output) and the op's inputs, less
the bias, and returns the gradient with respect to each input, in the shapes of
the inputs. The argument checks are the forward ops' own.

    depthwise   out[n,i,j,c*M+m] = b + sum_{p,q} xpad[n, i*S+p*D, j*S+q*D, c] * w[p,q,c,m]
                -> dw[p,q,c,m] = sum_{n,i,j} xpad[n, i*S+p*D, j*S+q*D, c] * dout[n,i,j,c*M+m]
                   dxpad[n, i*S+p*D, j*S+q*D, c] += sum_m w[p,q,c,m] * dout[n,i,j,c*M+m]
                   (conv2d's rules, with no sum over input channels)
    separable   the chain rule through the 1x1 conv2d, then through the depthwise step
    transpose   conv2d_transpose is x -> C^T x, the adjoint of the linear map C = conv2d(., w)
                -> dx = C dout = conv2d(dout, w, stride, padding)
                   dw = conv2d's weight gradient with the roles swapped: dout is the
                        input and x the upstream gradient
"""

import numpy as np

from . import backprop
from .arguments import check_dout
from .conv_variants import depthwise_conv2d, depthwise_geometry, transpose_geometry
from .ops import conv2d, zero_pad
from .windows import tap_view

__all__ = [
    "depthwise_conv2d_backward",
    "separable_conv2d_backward",
    "conv2d_transpose_backward",
]


# ---------------------------------------------------------------------------
# Depthwise and separable convolutions
# ---------------------------------------------------------------------------

def depthwise_conv2d_backward(dout, x, w, stride=1, padding=0, dilation=1):
    """Gradients of :func:`cnnlib.conv_variants.depthwise_conv2d`.

    Arguments:
        dout: gradient with respect to the output, (N, OH, OW, C*M).
        x, w, stride, padding, dilation: the forward arguments; x (N, H, W, C),
            w (KH, KW, C, M). The bias enters no gradient.

    Returns:
        ``(dx, dw, db)`` of shapes (N, H, W, C), (KH, KW, C, M), (C*M,).

    Raises:
        ValueError, TypeError: as the forward op; dout of the wrong shape.
    """
    x, w, _, stride_hw, dilation_hw, pads, (oh, ow) = depthwise_geometry(x, w, None, stride, padding, dilation)
    n, h, width, c = x.shape
    kh, kw, _, m = w.shape
    dout = check_dout(dout, (n, oh, ow, c * m), "depthwise_conv2d").astype(x.dtype, copy=False)
    grad = dout.reshape(n, oh, ow, c, m)
    xp = zero_pad(x, pads)
    dxp = np.zeros_like(xp)
    dw = np.empty_like(w)
    for p in range(kh):
        for q in range(kw):
            dw[p, q] = np.einsum("nijc,nijcm->cm", tap_view(xp, p, q, stride_hw, dilation_hw, (oh, ow)), grad)
            tap_view(dxp, p, q, stride_hw, dilation_hw, (oh, ow))[...] += np.einsum("nijcm,cm->nijc", grad, w[p, q])
    (top, _), (left, _) = pads
    return dxp[:, top:top + h, left:left + width], dw, dout.sum(axis=(0, 1, 2))


def separable_conv2d_backward(dout, x, depthwise_kernel, pointwise_kernel, stride=1, padding=0, dilation=1):
    """Gradients of :func:`cnnlib.conv_variants.separable_conv2d`.

    Arguments:
        dout: gradient with respect to the output, (N, OH, OW, F).
        x, depthwise_kernel, pointwise_kernel, stride, padding, dilation: the forward arguments.

    Returns:
        ``(dx, d_depthwise_kernel, d_pointwise_kernel, db)`` in the shapes of
        x, the two kernels and the bias (F,).
    """
    mid = depthwise_conv2d(x, depthwise_kernel, None, stride, padding, dilation)
    dmid, dpoint, db = backprop.conv2d_backward(dout, mid, pointwise_kernel)
    dx, ddepth, _ = depthwise_conv2d_backward(dmid, x, depthwise_kernel, stride, padding, dilation)
    return dx, ddepth, dpoint, db


# ---------------------------------------------------------------------------
# Transposed convolution
# ---------------------------------------------------------------------------

def conv2d_transpose_backward(dout, x, w, stride=1, padding=0, output_padding=None, dilation=1):
    """Gradients of :func:`cnnlib.conv_variants.conv2d_transpose`.

    Arguments:
        dout: gradient with respect to the output, (N, OH, OW, C_out).
        x, w, stride, padding, output_padding, dilation: the forward arguments;
            x (N, H, W, C_in), w (KH, KW, C_out, C_in). The bias enters no gradient.

    Returns:
        ``(dx, dw, db)`` of shapes (N, H, W, C_in), (KH, KW, C_out, C_in), (C_out,).
        dx is the conv2d of dout with the same kernel, stride and padding: the
        transposed convolution's transpose is the convolution.

    Raises:
        ValueError, TypeError: as the forward op; dout of the wrong shape.
    """
    x, w, _, stride_hw, dilation_hw, pads, (oh, ow) = transpose_geometry(
        x, w, None, stride, padding, output_padding, dilation)
    dout = check_dout(dout, (x.shape[0], oh, ow, w.shape[2]), "conv2d_transpose").astype(x.dtype, copy=False)
    dx = conv2d(dout, w, None, stride_hw, pads, dilation_hw)
    dw, _ = backprop.conv2d_weight_grad(x, dout, w, stride_hw, pads, dilation_hw)
    return dx, dw, dout.sum(axis=(0, 1, 2))
