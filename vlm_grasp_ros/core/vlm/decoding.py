"""Greedy decoding under the answer grammar, in as few decoder forward passes as it allows.

transformers' ``generate`` runs one forward pass per token and keeps per-step bookkeeping this
model does not need. This loop differs in three ways:

* **Forced tokens cost no forward pass.** When the grammar allows one token only (the space
  after ``1000``, the end after the K-th grasp) it is appended at once and fed to the model
  together with the next chosen token: that step's forward takes two slots per row, ``[chosen,
  forced]`` or ``[pad, chosen]``, the pad masked out. Causal attention makes this the same
  computation as two single steps.
* **Logits for the last position only**, in the prefill too (the prompt is hundreds of
  image tokens; full-vocabulary logits over all of them are wasted).
* **Fixed shapes.** A static KV cache, prompts left-padded to a multiple of
  ``prompt_multiple`` and batches padded to the next size in ``batch_sizes``, so every step of a
  bucket has the same tensor shapes and addresses (what torch.compile's CUDA graphs need). The
  attention mask and the M-RoPE positions are built here, explicitly, for every slot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from transformers import StaticCache

from vlm_grasp_ros.core.vlm.answer_format import COMPLETE, AnswerGrammar, State


@dataclass(frozen=True)
class DecodeBuckets:
    #: Prompts are left-padded to a multiple of this many tokens.
    prompt_multiple: int = 64
    #: Batches are padded with empty rows to the next of these sizes (beyond the last: as is).
    batch_sizes: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)

    def prompt_length(self, length: int) -> int:
        return math.ceil(length / self.prompt_multiple) * self.prompt_multiple

    def batch_size(self, rows: int) -> int:
        return next((size for size in self.batch_sizes if size >= rows), rows)


@dataclass
class DecodedRow:
    """One prompt row's answer tokens, each token's log-probability under the model's full
    distribution (None for forced tokens, which no forward pass scored) and the forward passes
    made while the row was unfinished (the prefill included)."""

    tokens: list[int] = field(default_factory=list)
    log_probs: list[float | None] = field(default_factory=list)
    forwards: int = 1
    finished: bool = False


@dataclass
class Prefilled:
    """The state after the prefill: rows (before batch padding), their last logits, which cache
    slots hold real tokens, each row's next text position and M-RoPE offset, and the cache."""

    rows: int
    logits: torch.Tensor
    valid: torch.Tensor
    next_position: torch.Tensor
    deltas: torch.Tensor
    cache: StaticCache
    slot: int  # the first free cache slot: the padded prompt's length


class GrammarDecoder:
    """Decodes prompt rows of a Qwen3-VL (plain or PEFT-wrapped) under an :class:`AnswerGrammar`."""

    def __init__(self, model, pad_token_id: int, buckets: DecodeBuckets = DecodeBuckets()) -> None:
        self.model = model
        self.pad = pad_token_id
        self.buckets = buckets
        self._caches: dict[tuple[int, int], StaticCache] = {}
        self._allowed: dict[tuple[AnswerGrammar | None, State | None], torch.Tensor] = {}

    @property
    def _qwen(self):
        """The Qwen3VLModel inside (for its M-RoPE index), through a PEFT wrapper if there is one."""
        base = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
        return base.model

    @torch.inference_mode()
    def decode(
        self,
        inputs,
        grammar: AnswerGrammar | None,
        end: int,
        max_new_tokens: int,
        teacher: list[list[int]] | None = None,
    ) -> list[DecodedRow]:
        """Greedy answers for the processor's (left-padded) ``inputs``. ``grammar`` None decodes
        unconstrained. ``teacher`` (benchmarks) makes each row write the given tokens instead of
        its argmax, at the same cost, so random weights decode answers of realistic length."""
        prefilled = self.prefill(inputs, max_new_tokens)
        rows, logits, valid, device = prefilled.rows, prefilled.logits, prefilled.valid, prefilled.valid.device
        batch, next_position, deltas, cache = valid.shape[0], prefilled.next_position, prefilled.deltas, prefilled.cache
        ids = inputs["input_ids"]
        decoded = [DecodedRow() for _ in range(rows)]
        states: list[State | None] = [grammar.start if grammar else None] * rows
        slot = prefilled.slot
        while True:
            pending = self._choose(logits, decoded, states, grammar, end, max_new_tokens, teacher)
            if all(row.finished for row in decoded):
                return decoded
            width = max(len(tokens) for tokens in pending)
            step = torch.full((batch, width), self.pad, dtype=ids.dtype, device=device)
            positions = next_position[:, None].repeat(1, width)
            for row, tokens in enumerate(pending):
                if tokens:
                    offset = width - len(tokens)
                    step[row, offset:] = torch.tensor(tokens, dtype=ids.dtype)
                    valid[row, slot + offset : slot + width] = True
                    positions[row, offset:] = next_position[row] + torch.arange(len(tokens), device=device)
                    next_position[row] += len(tokens)
            for decoded_row in decoded:
                decoded_row.forwards += not decoded_row.finished
            rope_positions = (positions + deltas)[None].repeat(3, 1, 1)
            logits = self.model(
                input_ids=step,
                attention_mask=self._mask(valid, slot, width),
                position_ids=torch.cat([positions[None], rope_positions]),
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=1,
            ).logits[:, -1]
            slot += width

    @torch.inference_mode()
    def prefill(self, inputs, max_new_tokens: int) -> Prefilled:
        """The prompt through the model into a static cache sized for ``max_new_tokens`` more;
        logits of each row's last position only."""
        input_ids, attention = inputs["input_ids"], inputs["attention_mask"]
        rows, length = input_ids.shape
        batch, prompt = self.buckets.batch_size(rows), self.buckets.prompt_length(length)
        device = input_ids.device
        capacity = prompt + 2 * max_new_tokens  # a step writes at most two slots
        ids = torch.full((batch, prompt), self.pad, dtype=input_ids.dtype, device=device)
        ids[:rows, prompt - length :] = input_ids
        valid = torch.zeros((batch, capacity), dtype=torch.bool, device=device)
        valid[:rows, prompt - length : prompt] = attention.bool()
        types = torch.zeros((batch, prompt), dtype=inputs["mm_token_type_ids"].dtype, device=device)
        types[:rows, prompt - length :] = inputs["mm_token_type_ids"]

        text_positions = (valid[:, :prompt].long().cumsum(-1) - 1).clamp(min=0)
        rope = text_positions[None].repeat(3, 1, 1)
        rope[:, :rows], deltas = self._qwen.get_rope_index(
            ids[:rows], types[:rows], image_grid_thw=inputs.get("image_grid_thw"), attention_mask=valid[:rows, :prompt]
        )
        deltas = torch.cat([deltas.to(device), torch.zeros((batch - rows, 1), dtype=deltas.dtype, device=device)])

        cache = self._cache(batch, capacity)
        logits = self.model(
            input_ids=ids,
            attention_mask=self._mask(valid, 0, prompt),
            position_ids=torch.cat([text_positions[None], rope]),
            past_key_values=cache,
            use_cache=True,
            pixel_values=inputs.get("pixel_values"),
            image_grid_thw=inputs.get("image_grid_thw"),
            mm_token_type_ids=types,
            logits_to_keep=1,
        ).logits[:, -1]
        # text position of each row's next token: its count of real tokens so far
        return Prefilled(rows, logits, valid, valid[:, :prompt].sum(-1), deltas, cache, prompt)

    def _choose(
        self,
        logits: torch.Tensor,
        decoded: list[DecodedRow],
        states: list[State | None],
        grammar: AnswerGrammar | None,
        end: int,
        max_new_tokens: int,
        teacher: list[list[int]] | None,
    ) -> list[list[int]]:
        """Each unfinished row's next token (and any forced after it); the tokens to feed next."""
        logits = logits.float()
        normaliser = torch.logsumexp(logits, dim=-1).tolist()
        pending: list[list[int]] = []
        for index, row in enumerate(decoded):
            if row.finished:
                pending.append([])
                continue
            state = states[index]
            allowed = grammar.allowed(state) if grammar is not None and state is not None else ()
            if teacher is not None:
                token = teacher[index][len(row.tokens)]
            elif allowed:
                candidates = self._candidates(grammar, state, allowed, logits.device)
                token = int(candidates[logits[index, candidates].argmax()])
            else:
                token = int(logits[index].argmax())
            row.tokens.append(token)
            row.log_probs.append(float(logits[index, token]) - normaliser[index])
            feed = [token]
            if grammar is not None and state is not None:
                state = grammar.advance(state, token)
                while state is not None and state != COMPLETE and len(grammar.allowed(state)) == 1:
                    [forced] = grammar.allowed(state)
                    row.tokens.append(forced)
                    row.log_probs.append(None)
                    state = grammar.advance(state, forced)
                    if forced != end:
                        feed.append(forced)
                states[index] = state
            row.finished = row.tokens[-1] == end or len(row.tokens) >= max_new_tokens
            pending.append([] if row.finished else feed)
        return pending

    def _mask(self, valid: torch.Tensor, start: int, width: int) -> torch.Tensor:
        """Additive attention mask (batch, 1, width, capacity) for queries in slots
        ``start .. start + width - 1``: valid keys at or before each query, and the query itself
        (so that a padding query has a key and its softmax stays finite)."""
        capacity = valid.shape[1]
        keys = torch.arange(capacity, device=valid.device)
        queries = torch.arange(start, start + width, device=valid.device)
        visible = (valid[:, None, :] & (keys[None, None, :] <= queries[None, :, None])) | (
            keys[None, None, :] == queries[None, :, None]
        )
        dtype = self.model.dtype
        mask = torch.zeros(visible.shape, dtype=dtype, device=valid.device)
        return mask.masked_fill_(~visible, torch.finfo(dtype).min)[:, None]

    def _candidates(
        self, grammar: AnswerGrammar | None, state: State | None, allowed: tuple[int, ...], device: torch.device
    ) -> torch.Tensor:
        """``allowed`` as a tensor on the model's device, built once per grammar state (a
        field-token state allows 1,001 ids: rebuilding and copying them every step is waste)."""
        key = (grammar, state)
        if key not in self._allowed:
            self._allowed[key] = torch.tensor(allowed, device=device)
        return self._allowed[key]

    def release(self) -> None:
        """Drop the KV caches and the model, so that releasing the model frees its memory."""
        self._caches.clear()
        self._allowed.clear()
        self.model = None

    def _cache(self, batch: int, capacity: int) -> StaticCache:
        key = (batch, capacity)
        if key not in self._caches:
            if len(self._caches) >= 4:  # a node sees few buckets; an 8B cache for 8 rows is ~0.8 GB
                self._caches.clear()
            self._caches[key] = StaticCache(config=self.model.config, max_cache_len=capacity)
        cache = self._caches[key]
        cache.reset()
        return cache
