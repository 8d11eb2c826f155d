#!/usr/bin/python3
"""The PyTorch side of the character language model comparison
(doc/sequence.md): the recipes of `nabla train --text`, on the same
text, alphabet, split and windows, so that held-out bits per character
can be compared run for run.

    charlm.py --text FILE --model lstm|gpt [--epochs N] [--seed S]
              [--batch B] [--steps T] [--lr X] [--clip-norm C]
              [--held-out F] [--max-windows N] [--threads N]

The data follow nabla/text.h exactly: the alphabet is the distinct bytes
in byte order; the last F (default 0.1) of the bytes, floor(n F), is held
out; a split of L ids is cut into B streams of floor(L / B) and window k
holds ids b S + k T + [0, T) with targets one further on.  The LSTM
carries its detached state from window to window (reset each epoch and
before evaluation), as nabla does for a model with state; the
transformer sees each window alone.  Prints one JSON line per epoch.
"""
import argparse
import json
import math
import struct
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def load(path, held_out):
    data = open(path, "rb").read()
    alphabet = sorted(set(data))
    index = {c: i for i, c in enumerate(alphabet)}
    ids = torch.tensor([index[c] for c in data], dtype=torch.int64)
    train = len(ids) - math.floor(len(ids) * held_out)
    return ids[:train], ids[train:], len(alphabet)


def windows(ids, batch, steps):
    stream = len(ids) // batch
    n = (stream - 1) // steps if stream >= 2 else 0
    s = ids[: stream * batch].view(batch, stream)
    for k in range(n):
        yield s[:, k * steps:(k + 1) * steps], \
            s[:, k * steps + 1:(k + 1) * steps + 1]


class CharLSTM(nn.Module):
    """embedding:64 lstm:256 linear:V"""

    def __init__(self, v, emb=64, hidden=256):
        super().__init__()
        self.emb = nn.Embedding(v, emb)
        self.lstm = nn.LSTM(emb, hidden, batch_first=True)
        self.head = nn.Linear(hidden, v)

    def forward(self, x, state=None):
        y, state = self.lstm(self.emb(x), state)
        return self.head(y), state


class CharGPT(nn.Module):
    """token and learned position embeddings, 4 pre-norm layers (d 128,
    4 heads, feed-forward 512, gelu, causal), a final layer norm and a
    linear head: the gpt_tiny recipe."""

    def __init__(self, v, steps, d=128, heads=4, layers=4, ff=512):
        super().__init__()
        self.tok = nn.Embedding(v, d)
        self.pos = nn.Embedding(steps, d)
        # Separate layers, each initialized afresh as nabla's 4x( ) does
        # (nn.TransformerEncoder would deep-copy one initialization).
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0,
                                       activation="gelu", batch_first=True,
                                       norm_first=True)
            for _ in range(layers))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, v)
        self.register_buffer("mask", torch.triu(
            torch.full((steps, steps), float("-inf")), diagonal=1))

    def forward(self, x, state=None):
        t = x.shape[1]
        h = self.tok(x) + self.pos(torch.arange(t))
        for block in self.blocks:
            h = block(h, src_mask=self.mask[:t, :t])
        return self.head(self.norm(h)), None


def save_safetensors(path, model):
    """The model's state dict as safetensors (float32), for nabla's
    --init-from: the same initial weights in both engines."""
    header, blobs, at = {}, [], 0
    for name, t in model.state_dict().items():
        raw = t.detach().contiguous().float().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [at, at + len(raw)]}
        blobs.append(raw)
        at += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def detach(state):
    return None if state is None else tuple(s.detach() for s in state)


def evaluate(model, ids, steps):
    """Held-out bits per character: the text as one stream (batch 1),
    windows of steps, as nabla's tl_evaluate."""
    batch = 1
    model.eval()
    total, n, state = 0.0, 0, None
    with torch.no_grad():
        for x, y in windows(ids, batch, steps):
            logits, state = model(x, state)
            total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                     y.reshape(-1)).item()
            n += 1
    model.train()
    return total / n / math.log(2)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--text", required=True)
    p.add_argument("--model", choices=["lstm", "gpt"], default="lstm")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--clip-norm", type=float, default=5.0)
    p.add_argument("--held-out", type=float, default=0.1)
    p.add_argument("--max-windows", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--save-init", help="write the initial weights to this "
                   "safetensors file (names emb, lstm, head: nabla's spec "
                   "labels them with @emb @lstm @head)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    train, held, v = load(a.text, a.held_out)
    model = CharLSTM(v) if a.model == "lstm" else CharGPT(v, a.steps)
    if a.save_init:
        save_safetensors(a.save_init, model)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    for epoch in range(1, a.epochs + 1):
        t0, total, n, state = time.time(), 0.0, 0, None
        for x, y in windows(train, a.batch, a.steps):
            logits, state = model(x, detach(state))
            loss = F.cross_entropy(logits.reshape(-1, v), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            if a.clip_norm > 0:
                nn.utils.clip_grad_norm_(model.parameters(), a.clip_norm)
            opt.step()
            total += loss.item()
            n += 1
            if a.max_windows and n >= a.max_windows:
                break
        secs = time.time() - t0
        print(json.dumps({
            "engine": "pytorch", "model": a.model, "seed": a.seed,
            "epoch": epoch, "train_bpc": total / n / math.log(2),
            "held_out_bpc": evaluate(model, held, a.steps),
            "seconds": secs, "ms_per_step": 1000 * secs / n}), flush=True)


if __name__ == "__main__":
    main()
