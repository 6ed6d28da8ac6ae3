"""Write a randomly initialised Llama-3.1-8B-shaped model (bf16) and a local word-level tokenizer.

No weights are downloaded: random weights give real compute and memory (nonsense text is fine for
load). Usage: python bench/gpu/make_random_model.py OUT_DIR [--layers 32] [--device cuda] [--tiny]
"""

from __future__ import annotations

import argparse
import json
import string
import time
from pathlib import Path
from typing import Any

# Llama-3.1-8B's published config (hidden 4096, 32 layers, GQA 32/8 heads, vocab 128256).
LLAMA_31_8B: dict[str, Any] = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "max_position_embeddings": 8192,
    "rms_norm_eps": 1e-5,
    "rope_theta": 500000.0,
    "hidden_act": "silu",
    "tie_word_embeddings": False,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "pad_token_id": 0,
}
# A tiny model of the same family, for a CPU smoke test of the scripts (not for measurements).
TINY: dict[str, Any] = {
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
}
# Plain-text chat template: the tokenizer is word level, so role names are ordinary words.
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant :{% endif %}"
)


def tokenizer_vocab(vocab_size: int) -> dict[str, int]:
    """Specials, whole words of loadgen's synthetic prompts and the chat roles (so a prompt of N
    loadgen tokens is about N model tokens), single characters and their `##` continuations (any
    other text encodes to varied ids, not a run of <unk>), then filler words up to `vocab_size`."""
    from loadgen.tokens import WORDS

    chars = string.ascii_letters + string.digits + string.punctuation
    roles = ("system", "user", "assistant")
    whole = sorted({*WORDS, *roles} - set(chars))
    words = ["<unk>", "<s>", "</s>", *whole, *chars, *(f"##{c}" for c in chars)]
    words += [f"w{i}" for i in range(len(words), vocab_size)]
    return {word: i for i, word in enumerate(words)}


def write_tokenizer(out: Path, vocab_size: int) -> None:
    """A WordPiece tokenizer whose vocabulary covers every id the model can emit.

    Each id decodes to plain ASCII, so every generated token streams as visible text (a
    byte-level BPE would emit partial UTF-8 that streamers hold back).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    model = models.WordPiece(vocab=tokenizer_vocab(vocab_size), unk_token="<unk>")
    tok = Tokenizer(model)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with spaces
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<unk>",
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)


def write_model(out: Path, shape: dict[str, Any], device: str) -> int:
    """Random bf16 weights in Llama-3.1-8B's shape; returns the parameter count."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(**shape)
    config.dtype = torch.bfloat16
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)  # build in bf16: an fp32 8B model would need 32 GB
    with torch.device(device):
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=1, eos_token_id=2, pad_token_id=0, do_sample=False, max_new_tokens=256
    )
    model.save_pretrained(out, safe_serialization=True)
    n_params = sum(p.numel() for p in model.parameters())
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return int(n_params)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--layers", type=int, default=LLAMA_31_8B["num_hidden_layers"])
    parser.add_argument("--tiny", action="store_true", help="a tiny model for a CPU smoke test")
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    write_tokenizer(args.out, LLAMA_31_8B["vocab_size"])
    shape = {**LLAMA_31_8B, "num_hidden_layers": args.layers, **(TINY if args.tiny else {})}
    n_params = write_model(args.out, shape, args.device)
    info = {"params": n_params, "shape": shape, "seconds": time.monotonic() - t0}
    (args.out / "random_model.json").write_text(json.dumps(info))
    print(f"random model: {n_params / 1e9:.2f} B params in {info['seconds']:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
