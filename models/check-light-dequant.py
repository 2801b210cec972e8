"""Checks models/convert_light.py's dequantisation against onnxruntime's own: for an int8 graph
(arbitrary_predict.onnx or arbitrary_transform.onnx) it builds a graph of only that graph's
DequantizeLinear nodes over initializers (the same nodes, attributes and initializers), runs it
in onnxruntime, and compares every output, permuted to nstyle's layout, with the tensor of the
same name in the converted safetensors file. Prints the max abs difference per file and exits 1
when a tensor is missing or differs by more than the given bound (default 0: the same floats).

    python check-light-dequant.py GRAPH.onnx CONVERTED.safetensors [MAX_ABS]

Needs onnx, onnxruntime and numpy (models/fetch-light.sh --check installs them in its virtual
environment). Not needed at run time.
"""
import json
import struct
import sys

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, d in header.items():
        if name == "__metadata__":
            continue
        a, b = d["data_offsets"]
        out[name] = np.frombuffer(data[a:b], dtype="<f4").reshape(d["shape"])
    return out


def main(argv):
    import onnx
    import onnxruntime as ort
    from onnx import helper

    if len(argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    bound = float(argv[2]) if len(argv) == 3 else 0.0
    model = onnx.load(argv[0])
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    nodes = [n for n in g.node if n.op_type == "DequantizeLinear" and n.input[0] in inits]
    if not nodes:
        print(f"{argv[0]}: no DequantizeLinear over initializers", file=sys.stderr)
        return 1
    used = {name for n in nodes for name in n.input if name}
    outputs = [helper.make_tensor_value_info(n.output[0], onnx.TensorProto.FLOAT, None)
               for n in nodes]
    dq_graph = helper.make_graph(list(nodes), "dequantize_only", [], outputs,
                                 [inits[name] for name in sorted(used)])
    dq_model = helper.make_model(dq_graph, opset_imports=[helper.make_opsetid("", 15)])
    dq_model.ir_version = model.ir_version
    sess = ort.InferenceSession(dq_model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = sess.run(None, {})
    conv = read_safetensors(argv[1])
    worst, worst_name, n_checked = 0.0, "", 0
    for node, ref in zip(nodes, got):
        name = node.input[0]
        if name not in conv:
            print(f"{argv[1]}: {name} is missing", file=sys.stderr)
            return 1
        ref = ref.transpose(0, 2, 3, 1) if ref.ndim == 4 else ref
        mine = conv[name]
        if mine.shape != ref.shape:
            print(f"{name}: shape {mine.shape}, onnxruntime {ref.shape}", file=sys.stderr)
            return 1
        d = float(np.max(np.abs(mine.astype(np.float64) - ref.astype(np.float64))))
        n_checked += 1
        if d >= worst:
            worst, worst_name = d, name
    print(f"{argv[0]}: {n_checked} dequantised tensors against onnxruntime "
          f"{ort.__version__}: max abs difference {worst:.3g} ({worst_name})")
    return 0 if worst <= bound else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
