"""MiniFASNet: the pretrained anti-spoofing networks of Silent-Face-Anti-Spoofing, in Keras 3.

Minivision's Silent-Face-Anti-Spoofing project (Apache License 2.0) publishes
two networks trained on many people and attacks, as PyTorch state dicts:
MiniFASNetV2 on the face box scaled 2.7 times and MiniFASNetV1SE (with
squeeze-and-excitation) on the box scaled 4.0 times, both 80x80 BGR pixels
0..255 in, three classes out (1: live; 0 and 2: attack types). This is the
same architecture layer for layer, each Keras layer named after its torch
module (`conv_3.model.0.conv_dw.conv`), so a state dict's weights map by name.

`pair()` joins the two as the project's commands use them: one input of both
crops stacked (80x80x6, [0, 1] as every project model takes), the x255
rescale inside, each network's softmax averaged as the original does, and the
three classes folded into the project's two (fake = class 0 + class 2,
real = class 1), in LabelEncoder order.

Run it to print the summaries: 414,590 (V2) and 414,004 (V1SE) weights at 80x80.
"""
import argparse

import numpy as np

from liveness.errors import LivenessError
from liveness.quiet import add_verbose_argument, import_tensorflow

# Keras is imported inside the builders, so that --help answers at once.

VARIANTS = ("v2", "v1se")
# channels kept in each layer after the original's pruning ("1.8M" for V1/V1SE, "1.8M_" for V2)
KEEP = {
    "v1se": [32, 32, 103, 103, 64, 13, 13, 64, 26, 26, 64, 13, 13, 64, 52, 52, 64, 231, 231, 128, 154, 154, 128, 52,
             52, 128, 26, 26, 128, 52, 52, 128, 26, 26, 128, 26, 26, 128, 308, 308, 128, 26, 26, 128, 26, 26, 128, 512,
             512],
    "v2": [32, 32, 103, 103, 64, 13, 13, 64, 13, 13, 64, 13, 13, 64, 13, 13, 64, 231, 231, 128, 231, 231, 128, 52, 52,
           128, 26, 26, 128, 77, 77, 128, 26, 26, 128, 26, 26, 128, 308, 308, 128, 26, 26, 128, 26, 26, 128, 512, 512],
}
DROPOUT = {"v2": 0.2, "v1se": 0.75}
EMBEDDING = 128
BN_EPSILON = 1e-5  # PyTorch's default, not Keras's 1e-3
PAIR_SCALES = (2.7, 4.0)  # V2's crop, V1SE's crop
PAIR_SIZE = 80


def _bn(name):
    from keras import layers

    return layers.BatchNormalization(epsilon=BN_EPSILON, momentum=0.9, name=name)


def conv_block(x, filters, name, kernel=1, stride=1, padding=0, depthwise=False, prelu=True):
    """Conv (no bias) => BN [=> PReLU]: the original's Conv_block (Linear_block without the PReLU).

    Padding is explicit: PyTorch pads both sides alike, Keras's "same" does not at stride 2.
    """
    from keras import layers

    if padding:
        x = layers.ZeroPadding2D(padding, name=f"{name}.pad")(x)
    if depthwise:
        if filters != x.shape[-1]:
            raise ValueError("a grouped convolution here is always depthwise")
        x = layers.DepthwiseConv2D(kernel, strides=stride, use_bias=False, name=f"{name}.conv")(x)
    else:
        x = layers.Conv2D(filters, kernel, strides=stride, use_bias=False, name=f"{name}.conv")(x)
    x = _bn(f"{name}.bn")(x)
    if prelu:
        x = layers.PReLU(shared_axes=[1, 2], name=f"{name}.prelu")(x)
    return x


def squeeze_excite(x, name, reduction=4):
    """The SE module: channel weights from the global average, through a bottleneck, times the input."""
    from keras import layers

    channels = x.shape[-1]
    s = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}.avg_pool")(x)
    s = layers.Conv2D(channels // reduction, 1, use_bias=False, name=f"{name}.fc1")(s)
    s = _bn(f"{name}.bn1")(s)
    s = layers.ReLU(name=f"{name}.relu")(s)
    s = layers.Conv2D(channels, 1, use_bias=False, name=f"{name}.fc2")(s)
    s = _bn(f"{name}.bn2")(s)
    s = layers.Activation("sigmoid", name=f"{name}.sigmoid")(s)
    return layers.Multiply(name=f"{name}.scale")([x, s])


def depth_wise(x, expand, out, name, stride=1, residual=False, se=False):
    """1x1 expand => 3x3 depthwise => 1x1 linear projection, a shortcut in residual blocks (Depth_Wise)."""
    from keras import layers

    shortcut = x
    x = conv_block(x, expand, f"{name}.conv")
    x = conv_block(x, expand, f"{name}.conv_dw", kernel=3, stride=stride, padding=1, depthwise=True)
    x = conv_block(x, out, f"{name}.project", prelu=False)
    if residual:
        if se:
            x = squeeze_excite(x, f"{name}.se_module")
        x = layers.Add(name=f"{name}.add")([shortcut, x])
    return x


def residual_stage(x, keep, first, blocks, name, se):
    """`blocks` residual Depth_Wise blocks; with `se`, the last one has the SE module (ResidualSE)."""
    for i in range(blocks):
        k = first + 3 * i
        x = depth_wise(x, keep[k + 1], keep[k + 3], f"{name}.model.{i}", residual=True, se=se and i == blocks - 1)
    return x


class MiniFASNet:
    @staticmethod
    def build(variant="v2", width=PAIR_SIZE, height=PAIR_SIZE, classes=3, name=None):
        """MiniFASNetV2 or MiniFASNetV1SE: BGR 0..255 in, class logits out (the original applies softmax after)."""
        import keras
        from keras import layers

        if variant not in VARIANTS:
            raise ValueError(f"unknown MiniFASNet variant {variant!r}; one of {', '.join(VARIANTS)}")
        keep, se = KEEP[variant], variant == "v1se"
        inputs = keras.Input(shape=(height, width, 3))
        x = conv_block(inputs, keep[0], "conv1", kernel=3, stride=2, padding=1)
        x = conv_block(x, keep[1], "conv2_dw", kernel=3, padding=1, depthwise=True)
        x = depth_wise(x, keep[2], keep[4], "conv_23", stride=2)
        x = residual_stage(x, keep, 4, 4, "conv_3", se)
        x = depth_wise(x, keep[17], keep[19], "conv_34", stride=2)
        x = residual_stage(x, keep, 19, 6, "conv_4", se)
        x = depth_wise(x, keep[38], keep[40], "conv_45", stride=2)
        x = residual_stage(x, keep, 40, 2, "conv_5", se)
        x = conv_block(x, keep[47], "conv_6_sep")
        # the original's get_kernel: the last depthwise convolution spans the whole remaining map
        kernel = ((height + 15) // 16, (width + 15) // 16)
        x = conv_block(x, keep[48], "conv_6_dw", kernel=kernel, depthwise=True, prelu=False)
        x = layers.Flatten(name="conv_6_flatten")(x)
        x = layers.Dense(EMBEDDING, use_bias=False, name="linear")(x)
        x = _bn("bn")(x)
        x = layers.Dropout(DROPOUT[variant], name="drop")(x)
        outputs = layers.Dense(classes, use_bias=False, name="prob")(x)
        return keras.Model(inputs, outputs, name=name or f"minifasnet_{variant}")


def set_torch_weights(model, state):
    """Copy a PyTorch state dict ({name: array}, from liveness.models.torch_state) into a MiniFASNet, strictly.

    Every weight of the model must be in the state dict with the right shape,
    and every tensor of the state dict must be used (BatchNorm's
    num_batches_tracked excepted), else nothing is trusted.
    """
    from keras import layers

    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    used = set()

    def take(name, shape=None):
        if name not in state:
            raise LivenessError(f"the state dict has no {name}: not a {model.name} checkpoint")
        used.add(name)
        return state[name]

    for layer in model.layers:
        n = layer.name
        if isinstance(layer, layers.DepthwiseConv2D):
            values = [take(f"{n}.weight").transpose(2, 3, 0, 1)]  # (C, 1, kh, kw) -> (kh, kw, C, 1)
        elif isinstance(layer, layers.Conv2D):
            values = [take(f"{n}.weight").transpose(2, 3, 1, 0)]  # (O, I, kh, kw) -> (kh, kw, I, O)
        elif isinstance(layer, layers.BatchNormalization):
            values = [take(f"{n}.{w}") for w in ("weight", "bias", "running_mean", "running_var")]
            used.add(f"{n}.num_batches_tracked")
        elif isinstance(layer, layers.PReLU):
            values = [take(f"{n}.weight").reshape(1, 1, -1)]
        elif isinstance(layer, layers.Dense):
            values = [take(f"{n}.weight").T]
        else:
            continue
        expected = [tuple(w.shape) for w in layer.get_weights()]
        if [tuple(v.shape) for v in values] != expected:
            raise LivenessError(f"{model.name} {n}: the state dict's shapes {[v.shape for v in values]} are not the model's {expected}")
        layer.set_weights([np.asarray(v, dtype="float32") for v in values])
    unused = sorted(k for k in state if k not in used)
    if unused:
        raise LivenessError(f"the state dict has {len(unused)} tensors {model.name} does not use ({unused[0]}, ...): "
                            "not this network's checkpoint")
    return model


def pair(v2, v1se, name="minifasnet_pair"):
    """Both networks as one project model: 80x80x6 in [0, 1] (the 2.7 crop, then the 4.0 crop), [fake, real] out."""
    import keras
    from keras import layers
    
    from liveness.models.layers import ChannelSlice

    height, width = v2.input_shape[1:3]
    inputs = keras.Input(shape=(height, width, 6), name="crops")
    pixels = layers.Rescaling(255.0, name="to_pixels")(inputs)  # the originals take 0..255
    probabilities = []
    for i, network in enumerate((v2, v1se)):
        crop = ChannelSlice(3 * i, 3 * i + 3, name=f"crop_{PAIR_SCALES[i]:g}")(pixels)
        probabilities.append(layers.Softmax(name=f"{network.name}_softmax")(network(crop)))
    mean = layers.Average(name="mean")(probabilities)
    # original class 1 is live, 0 and 2 are attacks: fold into LabelEncoder's ["fake", "real"]
    fold = layers.Dense(2, use_bias=False, trainable=False, name="fake_real")
    outputs = fold(mean)
    fold.set_weights([np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], "float32")])
    return keras.Model(inputs, outputs, name=name)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="Print the MiniFASNet summaries.")
    ap.add_argument("--variant", choices=(*VARIANTS, "pair"), default="pair")
    ap.add_argument("--size", type=int, default=PAIR_SIZE)
    add_verbose_argument(ap)
    args = ap.parse_args()
    import_tensorflow(args.verbose)
    if args.variant == "pair":
        model = pair(MiniFASNet.build("v2", args.size, args.size), MiniFASNet.build("v1se", args.size, args.size))
    else:
        model = MiniFASNet.build(args.variant, args.size, args.size)
    model.summary()
