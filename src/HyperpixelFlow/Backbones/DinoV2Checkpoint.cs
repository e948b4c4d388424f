using System.Text.RegularExpressions;
using static TorchSharp.torch;

namespace HyperpixelFlow.Backbones;

/// <summary>
/// Reads a DINOv2 checkpoint as published in either layout and gives its tensors under the official names:
/// the official repository's state dicts (<c>dinov2_vitb14_pretrain.pth</c>; also its training checkpoints' chunked
/// <c>blocks.C.N.</c> names), or the Hugging Face <c>Dinov2Model</c> / <c>Dinov2WithRegistersModel</c> layout
/// (<c>model.safetensors</c>: <c>embeddings.*</c>, <c>encoder.layer.N.*</c> with separate query/key/value, an optional
/// <c>dinov2.</c> prefix). The layout is told by the keys, whatever the file's extension; the size by the shapes.
/// </summary>
internal static partial class DinoV2Checkpoint
{
    /// <summary>The checkpoint's tensors (official names) and the architecture its shapes describe.</summary>
    public static (Dictionary<string, Tensor> Weights, DinoV2Architecture Architecture) Read(string path)
    {
        var raw = WeightFiles.Read(path);
        try
        {
            var weights = ToOfficialNames(raw, path);
            try { return (weights, ArchitectureOf(weights, path)); }
            catch
            {
                foreach (var t in weights.Values) t.Dispose();
                throw;
            }
        }
        finally { foreach (var t in raw.Values) t.Dispose(); }
    }

    /// <summary>Official names for either layout; the returned tensors are new handles (the caller disposes both sets).</summary>
    internal static Dictionary<string, Tensor> ToOfficialNames(IReadOnlyDictionary<string, Tensor> raw, string path)
    {
        var keys = raw.Keys.Select(k => k.StartsWith("dinov2.", StringComparison.Ordinal) ? k["dinov2.".Length..] : k).ToList();
        var byKey = raw.Keys.Zip(keys).ToDictionary(p => p.Second, p => raw[p.First]);
        if (byKey.ContainsKey("patch_embed.proj.weight"))
            return byKey.ToDictionary(kv => ChunkedBlock().Replace(kv.Key, "blocks.$1."), kv => kv.Value.alias());
        if (byKey.ContainsKey("embeddings.patch_embeddings.projection.weight"))
            return FromHuggingFace(byKey, path);
        throw new HyperpixelFlowException($"{path}: not a DINOv2 checkpoint: it has neither the official keys (patch_embed.proj.weight, " +
            $"blocks.N.attn.qkv.weight, ...) nor the Hugging Face ones (embeddings.patch_embeddings.projection.weight, ...); " +
            $"its first keys are {string.Join(", ", raw.Keys.Take(4))}");
    }

    private static Dictionary<string, Tensor> FromHuggingFace(Dictionary<string, Tensor> hf, string path)
    {
        var result = new Dictionary<string, Tensor>();
        var attention = new Dictionary<int, Dictionary<string, Tensor>>();
        foreach (var (key, value) in hf)
        {
            var layer = HuggingFaceLayer().Match(key);
            if (!layer.Success)
            {
                string? name = key switch
                {
                    "embeddings.cls_token" => "cls_token",
                    "embeddings.mask_token" => "mask_token",
                    "embeddings.register_tokens" => "register_tokens",
                    "embeddings.position_embeddings" => "pos_embed",
                    "embeddings.patch_embeddings.projection.weight" => "patch_embed.proj.weight",
                    "embeddings.patch_embeddings.projection.bias" => "patch_embed.proj.bias",
                    "layernorm.weight" => "norm.weight",
                    "layernorm.bias" => "norm.bias",
                    _ => null,
                };
                // Anything else (a pooler, a head) is not the backbone: left out, and StateDict reports what is missing.
                if (name is not null) result[name] = value.alias();
                continue;
            }
            int block = BlockNumber(layer.Groups[1].Value, path);
            string rest = layer.Groups[2].Value;
            var qkv = QueryKeyValue().Match(rest);
            if (qkv.Success)
            {
                if (!attention.TryGetValue(block, out var parts)) attention[block] = parts = [];
                parts[qkv.Groups[1].Value + "." + qkv.Groups[2].Value] = value;
                continue;
            }
            string mapped = rest
                .Replace("attention.output.dense.", "attn.proj.", StringComparison.Ordinal)
                .Replace("layer_scale1.lambda1", "ls1.gamma", StringComparison.Ordinal)
                .Replace("layer_scale2.lambda1", "ls2.gamma", StringComparison.Ordinal)
                .Replace("mlp.weights_in.", "mlp.w12.", StringComparison.Ordinal)
                .Replace("mlp.weights_out.", "mlp.w3.", StringComparison.Ordinal);
            result[$"blocks.{block}.{mapped}"] = value.alias();
        }
        // The official model keeps one qkv projection: query, key and value rows stacked in that order.
        foreach (var (block, parts) in attention)
            foreach (var kind in ParameterKinds)
            {
                var pieces = QueryKeyValueOrder.Select(p => parts.GetValueOrDefault($"{p}.{kind}")).ToList();
                if (pieces.All(p => p is null)) continue;
                if (pieces.Any(p => p is null))
                    throw new HyperpixelFlowException($"{path}: encoder.layer.{block}.attention.attention lacks one of query/key/value {kind}");
                result[$"blocks.{block}.attn.qkv.{kind}"] = cat(pieces!, 0);
            }
        return result;
    }

    private static readonly string[] ParameterKinds = ["weight", "bias"], QueryKeyValueOrder = ["query", "key", "value"];

    /// <summary>What the shapes say: token width, blocks, SwiGLU or not, register tokens; a clear error where they say nothing sensible.</summary>
    internal static (long Width, int Depth, bool SwiGlu, long Registers) ShapeOf(IReadOnlyDictionary<string, Tensor> weights, string path)
    {
        if (!weights.TryGetValue("cls_token", out var cls) || cls.dim() != 3)
            throw new HyperpixelFlowException($"{path}: DINOv2 checkpoint without a [1, 1, D] cls_token");
        int depth = weights.Keys.Select(k => BlockIndex().Match(k)).Where(m => m.Success)
            .Select(m => BlockNumber(m.Groups[1].Value, path) + 1).DefaultIfEmpty(0).Max();
        bool swiGlu = weights.ContainsKey("blocks.0.mlp.w12.weight");
        long registers = weights.TryGetValue("register_tokens", out var r) && r.dim() == 3 ? r.shape[1] : 0;
        if (weights.TryGetValue("patch_embed.proj.weight", out var patch) && patch.dim() == 4 && patch.shape[2] != DinoV2Architecture.PatchSize)
            throw new HyperpixelFlowException($"{path}: patch size {patch.shape[2]}, DINOv2 uses {DinoV2Architecture.PatchSize}");
        return (cls.shape[2], depth, swiGlu, registers);
    }

    /// <summary>The published architecture whose shapes the weights have; a clear error for anything else.</summary>
    internal static DinoV2Architecture ArchitectureOf(IReadOnlyDictionary<string, Tensor> weights, string path)
    {
        var (width, depth, swiGlu, registers) = ShapeOf(weights, path);
        var size = DinoV2Architecture.Sizes.FirstOrDefault(s => s.EmbedDim == width && s.Depth == depth && s.SwiGlu == swiGlu)
            ?? throw new HyperpixelFlowException($"{path}: a transformer of width {width} with {depth} blocks{(swiGlu ? " and SwiGLU" : "")} " +
                $"is not a published DINOv2 size ({string.Join(", ", DinoV2Architecture.Sizes.Select(s => $"{s.Name}: {s.EmbedDim} x {s.Depth}"))})");
        if (registers is not (0 or 4))
            throw new HyperpixelFlowException($"{path}: {registers} register tokens; the published models have 0 or 4");
        return registers == 0 ? size : size.WithRegisters();
    }

    /// <summary>A block number of a key; a clear error for one no network has.</summary>
    private static int BlockNumber(string digits, string path) =>
        int.TryParse(digits, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) && n < 1000
            ? n : throw new HyperpixelFlowException($"{path}: block number {digits} in a key; DINOv2 has at most 40 blocks");

    [GeneratedRegex(@"^blocks\.\d+\.(\d+)\.")]
    private static partial Regex ChunkedBlock();

    [GeneratedRegex(@"^encoder\.layer\.(\d+)\.(.+)$")]
    private static partial Regex HuggingFaceLayer();

    [GeneratedRegex(@"^attention\.attention\.(query|key|value)\.(weight|bias)$")]
    private static partial Regex QueryKeyValue();

    [GeneratedRegex(@"^blocks\.(\d+)\.")]
    private static partial Regex BlockIndex();
}
