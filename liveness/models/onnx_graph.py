"""An ONNX network rebuilt as a Keras model from the file's own graph and weights, so it exports to LiteRT.

The second pretrained network ships as ONNX. Served on ONNX Runtime it is one more runtime in every
scoring process, with threads of its own; rebuilt here (the `onnx` package reads the file; no code of
its project is used) it exports to LiteRT beside the pair and the serving install needs no ONNX Runtime.

Only the operators such a network uses are rebuilt (MiniFASNet's convolutions, grouped and depthwise,
PReLU, squeeze-and-excitation, the flatten, the linear head with its batch norm; ReduceMean); anything
else is a one-line refusal. The Keras model takes the ONNX input as it is, channels first, and computes
channels last inside, as TensorFlow's CPU kernels want.
"""
import numpy as np

from liveness.errors import LivenessError

SHAPE_OPS = ("Shape", "Gather", "Unsqueeze", "Concat", "Constant")  # the flatten's target shape: folded away


def _attributes(node):
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _flat_weights(graph):
    from onnx import numpy_helper

    weights = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            weights[node.output[0]] = numpy_helper.to_array(_attributes(node)["value"])
    return weights


def _conv(x, weight, bias, attributes, name):
    """An ONNX Conv on a channels-last tensor: plain, depthwise or grouped, with ONNX's explicit padding."""
    import keras

    out_channels, per_group, kh, kw = weight.shape
    group = int(attributes.get("group", 1))
    strides = tuple(attributes.get("strides", (1, 1)))
    if tuple(attributes.get("dilations", (1, 1))) != (1, 1):
        raise LivenessError(f"{name}: dilated convolutions are not rebuilt")
    top, left, bottom, right = attributes.get("pads", (0, 0, 0, 0))
    if any((top, left, bottom, right)):
        x = keras.layers.ZeroPadding2D(((top, bottom), (left, right)), name=f"{name}_pad")(x)
    use_bias = bias is not None
    if group == 1:
        layer = keras.layers.Conv2D(out_channels, (kh, kw), strides, use_bias=use_bias, name=name)
        kernel = weight.transpose(2, 3, 1, 0)
    elif per_group == 1 and group == out_channels:
        layer = keras.layers.DepthwiseConv2D((kh, kw), strides, use_bias=use_bias, name=name)
        kernel = weight.transpose(2, 3, 0, 1)
    else:
        layer = keras.layers.Conv2D(out_channels, (kh, kw), strides, groups=group, use_bias=use_bias, name=name)
        kernel = weight.transpose(2, 3, 1, 0)
    y = layer(x)
    layer.set_weights([kernel, bias] if use_bias else [kernel])
    return y


def keras_from_onnx(path):
    """The Keras model that computes what the ONNX file at `path` computes (one input, one output)."""
    import keras
    import onnx

    try:
        model = onnx.load(str(path))
    except Exception as error:
        raise LivenessError(f"cannot read the ONNX network {path}: {error}") from None
    graph = model.graph
    weights = _flat_weights(graph)
    inputs = [i for i in graph.input if i.name not in weights]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise LivenessError(f"{path}: one input and one output expected")
    dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim][1:]
    if len(dims) != 3 or not all(dims):
        raise LivenessError(f"{path}: its input must be images, channels first (N, C, H, W), got {dims}")
    source = keras.Input(shape=tuple(dims), name="input")
    tensors = {inputs[0].name: keras.layers.Permute((2, 3, 1), name="channels_last")(source)}
    rank = {inputs[0].name: 4}
    for index, node in enumerate(graph.node):
        name = f"{node.op_type.lower()}_{index}"
        attributes = _attributes(node)
        if node.op_type in SHAPE_OPS:
            continue
        x = tensors.get(node.input[0])
        if x is None:
            raise LivenessError(f"{path}: node {node.name or name} reads a tensor this rebuild does not have")
        out, out_rank = _node(node, x, rank[node.input[0]], tensors, weights, attributes, name)
        tensors[node.output[0]], rank[node.output[0]] = out, out_rank
    output = tensors[graph.output[0].name]
    if rank[graph.output[0].name] == 4:
        output = keras.layers.Permute((3, 1, 2), name="channels_first")(output)
    return keras.Model(source, output, name="onnx_rebuilt")


def _node(node, x, x_rank, tensors, weights, attributes, name):
    """(Keras tensor, rank) for one ONNX node whose first input is `x`."""
    import keras
    from keras import ops

    op = node.op_type
    second = node.input[1] if len(node.input) > 1 else None
    if op == "Conv":
        bias = weights.get(node.input[2]) if len(node.input) > 2 else None
        return _conv(x, weights[second], bias, attributes, name), 4
    if op == "PRelu":
        slope = weights[second].reshape(-1)
        layer = keras.layers.PReLU(shared_axes=[1, 2] if x_rank == 4 else None, name=name)
        y = layer(x)
        layer.set_weights([slope.reshape((1, 1, -1) if x_rank == 4 else (-1,))])
        return y, x_rank
    if op in ("Relu", "Sigmoid"):
        return keras.layers.Activation(op.lower(), name=name)(x), x_rank
    if op in ("Add", "Mul"):
        other = tensors.get(second)
        if other is None:
            raise LivenessError(f"{op} with a constant is not rebuilt")
        return (ops.add if op == "Add" else ops.multiply)(x, other), x_rank
    if op == "GlobalAveragePool":
        return keras.layers.GlobalAveragePooling2D(keepdims=True, name=name)(x), 4
    if op == "ReduceMean":
        axes = tuple(weights[second]) if second else tuple(attributes.get("axes", ()))
        if x_rank != 4 or sorted(axes) != [2, 3]:
            raise LivenessError("ReduceMean other than over an image's height and width is not rebuilt")
        keep = bool(attributes.get("keepdims", 1))
        return keras.layers.GlobalAveragePooling2D(keepdims=keep, name=name)(x), 4 if keep else 2
    if op in ("Reshape", "Flatten"):  # a flatten to (N, C x H x W), in ONNX's channels-first order
        if x_rank == 4:
            x = keras.layers.Permute((3, 1, 2), name=f"{name}_channels_first")(x)
        return keras.layers.Flatten(name=name)(x), 2
    if op == "MatMul":
        matrix = weights[second]
        layer = keras.layers.Dense(matrix.shape[1], use_bias=False, name=name)
        y = layer(x)
        layer.set_weights([matrix])
        return y, 2
    if op == "Gemm":
        matrix = weights[second].T if attributes.get("transB", 0) else weights[second]
        bias = weights.get(node.input[2]) if len(node.input) > 2 else None
        layer = keras.layers.Dense(matrix.shape[1], use_bias=bias is not None, name=name)
        y = layer(x)
        layer.set_weights([matrix * attributes.get("alpha", 1.0)] + ([bias * attributes.get("beta", 1.0)]
                                                                      if bias is not None else []))
        return y, 2
    if op == "BatchNormalization":
        gamma, beta, mean, variance = (weights[i] for i in node.input[1:5])
        layer = keras.layers.BatchNormalization(epsilon=float(attributes.get("epsilon", 1e-5)), name=name)
        y = layer(x)
        layer.set_weights([gamma, beta, mean, variance])
        return y, x_rank
    raise LivenessError(f"the ONNX operator {op} is not rebuilt (liveness.models.onnx_graph)")


def check_parity(keras_model, onnx_path, batch):
    """The largest difference between the rebuilt model's output and ONNX Runtime's on `batch`."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: batch})[0]
    got = np.asarray(keras_model(batch, training=False))
    return float(np.abs(got - expected).max())
