"""Build a random-weight Llama + locally trained byte-level BPE tokenizer, for vLLM on a CPU.
Usage: make_tiny_llama.py OUTDIR [--preset tiny|small] [--hidden-size N] [--layers N]
                                 [--intermediate-size N]
Presets: tiny (hidden 128, 2 layers: ~1.5 ms a decode step here) and small (slower; sized so
that vLLM's API server on 2 shared cores keeps up with it). The flags override a preset's sizes.
"""

import argparse
import glob
import os

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

HEAD_DIM = 64
# hidden size, layers, MLP width
PRESETS = {"tiny": (128, 2, 256), "small": (768, 6, 2048)}

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
ap.add_argument("outdir")
ap.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
ap.add_argument("--hidden-size", type=int, help=f"a multiple of {HEAD_DIM}")
ap.add_argument("--layers", type=int)
ap.add_argument("--intermediate-size", type=int)
args = ap.parse_args()
hidden, layers, intermediate = PRESETS[args.preset]
hidden = args.hidden_size or hidden
layers = args.layers or layers
intermediate = args.intermediate_size or intermediate
if hidden % HEAD_DIM:
    ap.error(f"--hidden-size {hidden} is not a multiple of {HEAD_DIM}")
OUT = args.outdir
os.makedirs(OUT, exist_ok=True)

# local training text: CPython stdlib sources + docs in /usr/share/doc (plain text only)
files = sorted(glob.glob(os.path.join(os.path.dirname(os.__file__), "*.py")))[:150]
files += [f for f in glob.glob("/usr/share/common-licenses/*") if os.path.isfile(f)]

SPECIALS = ["<unk>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|system|>"]
tok = Tokenizer(models.BPE(unk_token="<unk>"))
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(
    vocab_size=4096,
    min_frequency=2,
    special_tokens=SPECIALS,
    initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
)
tok.train(files, trainer)
tok.post_processor = processors.TemplateProcessing(
    single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tok.token_to_id("<s>"))]
)

chat_template = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
hf_tok = PreTrainedTokenizerFast(
    tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="</s>"
)
hf_tok.chat_template = chat_template
hf_tok.save_pretrained(OUT)

vocab = len(hf_tok)
cfg = LlamaConfig(
    vocab_size=vocab,
    hidden_size=hidden,
    intermediate_size=intermediate,
    num_hidden_layers=layers,
    num_attention_heads=hidden // HEAD_DIM,
    num_key_value_heads=hidden // HEAD_DIM,
    head_dim=HEAD_DIM,
    max_position_embeddings=4096,
    bos_token_id=hf_tok.bos_token_id,
    eos_token_id=hf_tok.eos_token_id,
    pad_token_id=hf_tok.pad_token_id,
    tie_word_embeddings=False,
)
torch.manual_seed(0)
model = LlamaForCausalLM(cfg).to(torch.bfloat16)
model.save_pretrained(OUT)
print("vocab", vocab, "params", sum(p.numel() for p in model.parameters()))
print(
    hf_tok.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
)
print(os.listdir(OUT))
