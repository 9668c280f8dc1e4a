"""The second network rebuilt from its ONNX graph: the same logits as ONNX Runtime, in Keras and in its LiteRT
export, on a tiny network of the same operators that the test makes; the serving side needs no ONNX Runtime."""
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, assert_one_line_error


def tiny_minifasnet(path, size=16):
    """A MiniFASNet-shaped ONNX network with random weights: a strided conv, PReLU, a depthwise and a grouped
    conv, a squeeze-and-excitation block with its residual add, the flatten (Shape, Gather, Unsqueeze, Concat,
    Reshape), a linear layer with batch norm, two logits."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    init = {}

    def weight(name, *shape, scale=0.3):
        init[name] = numpy_helper.from_array((rng.standard_normal(shape) * scale).astype("float32"), name)
        return name

    half = size // 2
    nodes = [
        helper.make_node("Conv", ["input", weight("w1", 8, 3, 3, 3), weight("b1", 8)], ["c1"], kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1], strides=[2, 2], group=1),
        helper.make_node("PRelu", ["c1", weight("p1", 8, 1, 1)], ["r1"]),
        helper.make_node("Conv", ["r1", weight("w2", 8, 1, 3, 3), weight("b2", 8)], ["c2"], kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1], strides=[1, 1], group=8),
        helper.make_node("Conv", ["c2", weight("w3", 8, 4, 1, 1), weight("b3", 8)], ["c3"], kernel_shape=[1, 1],
                         pads=[0, 0, 0, 0], strides=[1, 1], group=2),
        helper.make_node("GlobalAveragePool", ["c3"], ["g"]),
        helper.make_node("Conv", ["g", weight("w4", 2, 8, 1, 1), weight("b4", 2)], ["f1"], kernel_shape=[1, 1]),
        helper.make_node("Relu", ["f1"], ["f1r"]),
        helper.make_node("Conv", ["f1r", weight("w5", 8, 2, 1, 1), weight("b5", 8)], ["f2"], kernel_shape=[1, 1]),
        helper.make_node("Sigmoid", ["f2"], ["s"]),
        helper.make_node("Mul", ["c3", "s"], ["se"]),
        helper.make_node("Add", ["r1", "se"], ["res"]),
        helper.make_node("Conv", ["res", weight("w6", 8, 1, half, half), weight("b6", 8)], ["gd"],
                         kernel_shape=[half, half], group=8),
        helper.make_node("Shape", ["gd"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "axis0"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["target"], axis=0),
        helper.make_node("Reshape", ["gd", "target"], ["flat"]),
        helper.make_node("MatMul", ["flat", weight("m1", 8, 6)], ["lin"]),
        helper.make_node("BatchNormalization", ["lin", weight("gamma", 6), weight("beta", 6), weight("mean", 6),
                                                 "var"], ["bn"], epsilon=1e-5),
        helper.make_node("MatMul", ["bn", weight("m2", 6, 2)], ["output"]),
    ]
    init["zero"] = numpy_helper.from_array(np.array(0, "int64"), "zero")
    init["axis0"] = numpy_helper.from_array(np.array([0], "int64"), "axis0")
    init["minus1"] = numpy_helper.from_array(np.array([-1], "int64"), "minus1")
    init["var"] = numpy_helper.from_array(rng.uniform(0.5, 2, 6).astype("float32"), "var")
    graph = helper.make_graph(nodes, "tiny_minifasnet",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, size, size])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 2])],
                              list(init.values()))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


def test_the_rebuilt_network_and_its_export_give_onnx_runtimes_logits(tmp_path):
    from liveness.models.lite import LiteModel, current_export
    from liveness.models.onnx_graph import check_parity, keras_from_onnx
    from liveness.models.second_network import OnnxSession, SecondNetwork

    path = tiny_minifasnet(tmp_path / "tiny.onnx")
    batch = np.random.default_rng(1).random((5, 3, 16, 16), dtype=np.float32)
    assert check_parity(keras_from_onnx(path), path, batch) <= 1e-5
    assert current_export(path) is None and SecondNetwork(path).runtime == "ONNX Runtime"
    result = subprocess.run([sys.executable, "-m", "liveness.export", path], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    export = current_export(path)
    assert export == str(tmp_path / "tiny.tflite")
    expected = OnnxSession(path)(batch)
    assert np.abs(LiteModel(export)(batch) - expected).max() <= 1e-5
    served = SecondNetwork(path)  # the export beside the ONNX file is what scores now
    assert served.runtime.startswith("LiteRT")
    np.testing.assert_allclose(served(list(batch)), expected[:, 0] - expected[:, 1], atol=1e-5)


def test_an_operator_that_is_not_rebuilt_is_one_line(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Softmax", ["input"], ["output"])], "softmax",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", 3, 4, 4])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["n", 3, 4, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "softmax.onnx"))
    result = subprocess.run([sys.executable, "-m", "liveness.export", tmp_path / "softmax.onnx"], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert_one_line_error(result, "Softmax", "not rebuilt")


@pytest.mark.parametrize("runtime", ["litert", "onnxruntime"])
def test_one_thread_per_runtime_in_a_scorer(tmp_path, runtime):
    """Each scoring process is one of several on as many cores: every runtime in it keeps to one thread."""
    script = f"""
import os, sys, threading
sys.path.insert(0, {ROOT!r})
import numpy as np
from liveness.models.second_network import OnnxSession
from liveness.models.lite import LiteModel
def threads():
    return len(os.listdir('/proc/self/task'))
path = {str(tiny_minifasnet(tmp_path / 'tiny.onnx'))!r}
import onnxruntime, ai_edge_litert.interpreter
before = threads()
if {runtime!r} == 'litert':
    import subprocess
    subprocess.run([sys.executable, '-m', 'liveness.export', path], cwd={ROOT!r}, check=True, capture_output=True)
    model = LiteModel(path[:-5] + '.tflite')
else:
    model = OnnxSession(path)
for _ in range(20):
    model(np.random.rand(8, 3, 16, 16).astype('float32'))
print(before, threads())
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    before, after = map(int, result.stdout.split())
    assert after == before  # loading and running it started no threads of its own
