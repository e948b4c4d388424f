#!/usr/bin/env python3
"""Reference tokens of the official DINOv2 code for the C# parity test (DinoV2Tests).

Runs facebookresearch/dinov2's own model (its hub constructor, pretrained=False, then load_state_dict(strict=True) of
the given checkpoint) on two deterministic inputs and writes, for each, the input and the tokens after every block
(forward hooks on model.blocks, all tokens: class, registers, patches) plus forward_features' normalised patch tokens,
as one safetensors file. Nothing of the official code is copied: pass the path of a checkout.

    HPF_KEEP_DINOV2_CHECKPOINTS=/tmp/ckpt dotnet test -c Release --filter DinoV2   # writes the random checkpoints
    python3 tools/dinov2-parity/reference.py --dinov2 DIR --checkpoint /tmp/ckpt/vit384.pth \
        --out tests/HyperpixelFlow.Tests/Fixtures/dinov2-parity/vit384.safetensors
    python3 tools/dinov2-parity/reference.py --dinov2 DIR --swiglu-block \
        --out tests/HyperpixelFlow.Tests/Fixtures/dinov2-parity/swiglu-block.safetensors

Needs torch (Debian: apt-get install python3-torch) and numpy. The fixture was made with the checkout at
b48308a (the parent of 12592a9, whose attention is written out as softmax(q k^T / sqrt(d)) v: later commits call
F.scaled_dot_product_attention, the same operation, which torch 1.13 lacks) and Debian's torch 1.13.1.
"""
import argparse, json, math, os, struct, sys

import numpy as np

os.environ.setdefault("XFORMERS_DISABLED", "1")   # the plain PyTorch path, as on a CPU
import torch

SIZES = [(28, 42), (42, 70)]   # (H, W): non-square, so a transposed axis shows


def deterministic_input(h, w):
    """A smooth, asymmetric pattern in the range of normalised ImageNet pixels."""
    c, y, x = np.meshgrid(np.arange(3), np.arange(h), np.arange(w), indexing="ij")
    v = np.sin(0.37 * x + 0.11 * y * (c + 1)) + np.cos(0.23 * y - 0.05 * x * x / (c + 2)) + 0.3 * c - 0.2
    return torch.from_numpy(v.astype(np.float32))[None]


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        data = t.detach().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def swiglu_block(out):
    """One ViT-g-style block (SwiGLUFFNFused feed-forward, layer scale, qkv bias) at width 64, 4 heads, seeded random
    weights: its state dict, an input of 9 tokens and the official block's output."""
    from functools import partial
    from dinov2.layers import MemEffAttention, NestedTensorBlock, SwiGLUFFNFused
    torch.manual_seed(14)
    block = NestedTensorBlock(dim=64, num_heads=4, mlp_ratio=4, qkv_bias=True, proj_bias=True, ffn_bias=True,
                              norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), ffn_layer=SwiGLUFFNFused,
                              init_values=1.0, attn_class=MemEffAttention)
    with torch.no_grad():
        for p in block.parameters():
            p.copy_(torch.rand_like(p) * 0.4 - 0.2)
        block.ls1.gamma.uniform_(0.2, 0.9)
        block.ls2.gamma.uniform_(0.2, 0.9)
        block.eval()
        x = torch.randn(1, 9, 64)
        tensors = {f"weight.{k}": v for k, v in block.state_dict().items()}
        tensors["input"] = x
        tensors["output"] = block(x)
    write_safetensors(out, tensors)
    print(f"{out}: SwiGLU block, hidden {block.mlp.w3.in_features}, torch {torch.__version__}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dinov2", required=True, help="checkout of facebookresearch/dinov2")
    parser.add_argument("--checkpoint", help="official-layout state dict (.pth)")
    parser.add_argument("--swiglu-block", action="store_true", help="instead: one SwiGLU block of width 64 (ViT-g's feed-forward)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    sys.path.insert(0, args.dinov2)
    if args.swiglu_block:
        return swiglu_block(args.out)
    from dinov2.hub import backbones

    state = torch.load(args.checkpoint, map_location="cpu")
    width, depth = state["cls_token"].shape[2], 1 + max(int(k.split(".")[1]) for k in state if k.startswith("blocks."))
    size = {(384, 12): "s", (768, 12): "b", (1024, 24): "l", (1536, 40): "g"}[(width, depth)]
    registers = "register_tokens" in state
    model = getattr(backbones, f"dinov2_vit{size}14{'_reg' if registers else ''}")(pretrained=False)
    model.load_state_dict(state, strict=True)
    model.eval()

    out, captured = {}, []
    for block in model.blocks:
        block.register_forward_hook(lambda module, inputs, output: captured.append(output.clone()))
    with torch.no_grad():
        for h, w in SIZES:
            captured.clear()
            x = deterministic_input(h, w)
            features = model.forward_features(x)
            key = f"{h}x{w}"
            out[f"input.{key}"] = x
            for k, tokens in enumerate(captured):
                out[f"block{k}.{key}"] = tokens
            out[f"norm_patch_tokens.{key}"] = features["x_norm_patchtokens"]
    write_safetensors(args.out, out)
    print(f"{args.out}: {len(out)} tensors, torch {torch.__version__}")


if __name__ == "__main__":
    main()
