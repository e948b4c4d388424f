#!/usr/bin/env python3
"""Times the original Hyperpixel Flow code (github.com/juhongm999/hpf) pair by pair on PF-WILLOW, cold, on this
machine: the reference that issue 24's "paper path >= 9x the original code" is measured against.

What runs is the original code's own functions, imported from a checkout passed with --hpf (nothing of it is copied
here): util.resize, geometry.receptive_fields / prune_margin / gaussian2d / predict_kps and rhm.rhm. Its network class
(model/hpflow.py) only knows bottleneck ResNets, so this script walks the BasicBlock ResNet-18 of the bundled CNTK
weights the same way (every candidate is a block's output after the skip addition, before its ReLU; later layers
upsampled bilinearly with align_corners=True and concatenated), with the CNTK preprocessing (BGR 0..255 minus means)
in place of the ImageNet normalisation. One pair = read both images (PIL, as the original loader), normalise, resize
to 300 px, hyperpixels of both, RHM, keypoint transfer: every step of the published evaluation loop, nothing cached
between pairs. --check compares the predictions with ../shared/reference (the original's predictions for these
weights), so a timing is only reported for code that reproduces them.

    ./hpf backbones resnet18-cntk --export-weights /tmp/resnet18-cntk.safetensors
    python3 tools/original-code-timing/time_original.py --hpf HPF_CHECKOUT --weights /tmp/resnet18-cntk.safetensors \\
        --datapath ../shared/data/PF-WILLOW --pairs 20 --repeat 2 --check ../shared/reference/pfwillow_resnet18cntk_L2-4-5-6-7.json

Needs Debian's python3-torch and python3-torchvision (the original's util module imports torchvision); the issue's
reference timing used OpenBLAS (apt-get install libopenblas0-pthread). tools/original-code-timing/compare.sh runs
this and `hpf bench --preset paper` alternately and prints the ratio.
"""
import argparse, csv, json, os, statistics, struct, sys, time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

# Candidate ids of the CNTK ResNet-18 (blocks [2, 2, 2, 3]): 0 = after the stem max-pool, k = output of block k.
JUMPS = [4, 4, 4, 8, 8, 16, 16, 32, 32, 32]
RECEPTIVE_FIELDS = [11, 27, 43, 67, 99, 147, 211, 307, 435, 563]
BLOCKS = [2, 2, 2, 3]
BGR_MEANS = [103.063, 115.903, 123.152]


def read_safetensors(path):
    """A safetensors file as a dict of torch tensors (float32 and int64 only: what the export writes)."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        data = f.read()
    kinds = {"F32": np.float32, "I64": np.int64}
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        array = np.frombuffer(data[start:end], dtype=kinds[entry["dtype"]]).reshape(entry["shape"])
        tensors[name] = torch.from_numpy(array.copy())
    return tensors


def build_network(weights_path):
    from torchvision.models.resnet import BasicBlock, ResNet
    network = ResNet(BasicBlock, BLOCKS)
    state = read_safetensors(weights_path)
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing, unexpected = network.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("fc.")]
    if missing or unexpected:
        sys.exit(f"error: {weights_path} does not fit a ResNet-18 [2,2,2,3]: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return network.eval()


def blocks(network):
    for stage, depth in enumerate(BLOCKS):
        layer = getattr(network, f"layer{stage + 1}")
        for index in range(depth):
            yield layer[index]


def extract_features(network, image, ids):
    """The original extract_intermediate_feat, for BasicBlocks: [C, H, W] of the first id's resolution."""
    feats = []
    feat = network.maxpool(network.relu(network.bn1(network.conv1(image))))
    if 0 in ids:
        feats.append(feat.clone())
    for hid, block in enumerate(blocks(network)):
        res = feat
        feat = block.relu(block.bn1(block.conv1(feat)))
        feat = block.bn2(block.conv2(feat))
        if block.downsample is not None:
            res = block.downsample(res)
        feat += res
        if hid + 1 in ids:
            feats.append(feat.clone())
            if hid + 1 == max(ids):
                break
        feat = block.relu(feat)
    for idx in range(1, len(feats)):
        feats[idx] = F.interpolate(feats[idx], tuple(feats[0].size()[2:]), None, "bilinear", True)
    return torch.cat(feats, dim=1)[0]


def extract_hyperpixel(network, image, ids, geometry):
    """The original HyperpixelFlow.extract_hyperpixel (margin pruning on, as for PF-WILLOW)."""
    hyperfeats = extract_features(network, image.unsqueeze(0), ids)
    rfsz, jsz = torch.tensor(RECEPTIVE_FIELDS[ids[0]]), torch.tensor(JUMPS[ids[0]])
    hpgeometry = geometry.receptive_fields(rfsz, jsz, hyperfeats.size())
    hyperfeats = hyperfeats.view(hyperfeats.size()[0], -1).t()
    hpgeometry, valid_ids = geometry.prune_margin(hpgeometry, image.size()[1:], jsz.float())
    return hpgeometry, hyperfeats[valid_ids, :], image.size()[1:][::-1]


def load_image(path):
    """The original loader's reading (PIL, RGB array) with the CNTK network's normalisation: [1, 3, H, W]."""
    array = np.array(Image.open(path).convert("RGB"))
    image = torch.tensor(array.transpose(2, 0, 1).astype(np.float32))
    image = image.flip(0) - torch.tensor(BGR_MEANS).view(3, 1, 1)
    return image.unsqueeze(0)


def read_pairs(datapath, count):
    with open(os.path.join(datapath, "test_pairs.csv"), newline="") as f:
        rows = list(csv.reader(f))[1:]
    pairs = []
    for row in rows[:count]:
        values = np.array(row[2:], dtype=np.float32)
        pairs.append((row[0], row[1], torch.tensor(values[:20].reshape(2, 10)), torch.tensor(values[20:40].reshape(2, 10))))
    if len(pairs) < count:
        sys.exit(f"error: {datapath}/test_pairs.csv has {len(pairs)} pairs, fewer than --pairs {count}")
    return pairs


def image_path(datapath, name):
    return os.path.join(datapath, *name.split("/")[1:])   # the list's names start with PF-dataset/


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hpf", required=True, help="checkout of github.com/juhongm999/hpf")
    parser.add_argument("--weights", required=True, help="hpf backbones resnet18-cntk --export-weights FILE")
    parser.add_argument("--datapath", required=True, help="PF-WILLOW root (test_pairs.csv)")
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--layers", default="2,4,5,6,7", help="hyperpixel ids (the paper's for this backbone)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = one per core)")
    parser.add_argument("--check", help="reference predictions (JSON of ../shared/reference) the run must reproduce")
    parser.add_argument("--json", help="write the per-pair times here")
    args = parser.parse_args()

    sys.path.insert(0, os.path.abspath(args.hpf))
    from model import geometry, rhm, util   # the original code

    torch.set_num_threads(args.threads or len(os.sched_getaffinity(0)))
    ids = [int(v) for v in args.layers.split(",")]
    network = build_network(args.weights)
    hsfilter = geometry.gaussian2d(7)
    pairs = read_pairs(args.datapath, args.pairs)
    reference = None
    if args.check:
        with open(args.check) as f:
            reference = json.load(f)["pairs"]

    def run_pair(source, target, source_kps, target_kps):
        src_img, src_kps, _ = util.resize(load_image(image_path(args.datapath, source)), source_kps)
        trg_img, _, _ = util.resize(load_image(image_path(args.datapath, target)), target_kps)
        with torch.no_grad():
            src_hp = extract_hyperpixel(network, src_img, ids, geometry)
            trg_hp = extract_hyperpixel(network, trg_img, ids, geometry)
            confidence = rhm.rhm(src_hp, trg_hp, hsfilter)
            return geometry.predict_kps(src_hp[0], trg_hp[0], src_kps, confidence)

    run_pair(*pairs[0])   # warm-up: first-call costs of the libraries, as `hpf bench` has them before it times
    times, worst = [], 0.0
    for round_index in range(args.repeat):
        for index, (source, target, source_kps, target_kps) in enumerate(pairs):
            start = time.perf_counter()
            predicted = run_pair(source, target, source_kps, target_kps)
            times.append(time.perf_counter() - start)
            if reference is not None and round_index == 0:
                expected = reference[index]
                if (expected["src"], expected["trg"]) != (source, target):
                    sys.exit(f"error: --check lists pair {index} as {expected['src']} -> {expected['trg']}, not {source} -> {target}")
                worst = max(worst, float((predicted.t() - torch.tensor(expected["pred_xy"])).abs().max()))
    median = statistics.median(times)
    blas = "OpenBLAS" if os.path.realpath("/etc/alternatives/libblas.so.3-x86_64-linux-gnu").find("openblas") >= 0 else "BLAS alternative: " + os.path.realpath("/etc/alternatives/libblas.so.3-x86_64-linux-gnu")
    print(f"original code: {args.pairs} pairs x {args.repeat}, layers {args.layers}, torch {torch.__version__} ({blas}), "
          f"{torch.get_num_threads()} threads: cold pair median {median:.4f} s (p10 {np.percentile(times, 10):.4f}, p90 {np.percentile(times, 90):.4f})")
    if reference is not None:
        print(f"predictions against {args.check}: largest difference {worst:.4f} px")
        if worst > 0.01:
            sys.exit("error: the run does not reproduce the reference predictions; its timing is not the original code's")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"median_s": median, "times_s": times, "torch": torch.__version__, "threads": torch.get_num_threads(),
                       "blas": blas, "layers": args.layers, "check_max_px": worst if reference is not None else None}, f, indent=1)


if __name__ == "__main__":
    main()
