using HyperpixelFlow.Backbones;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace HyperpixelFlow.Tests;

/// <summary>
/// DINOv2 checkpoints with deterministic random weights, in both published layouts: the official state dict (.pth, as
/// torch.save writes it) and the Hugging Face Dinov2Model safetensors (embeddings.*, encoder.layer.N.* with separate
/// query/key/value). The same architecture always gives the same bits (SplitMix64 over the parameters in the
/// network's order), so reference tokens computed once from such a file by the official code stay valid
/// (tools/dinov2-parity/reference.py).
/// </summary>
internal static class DinoV2Checkpoints
{
    /// <summary>Writes both layouts of the random network of <paramref name="architecture"/> into <paramref name="folder"/>.</summary>
    public static (string Official, string HuggingFace) Write(DinoV2Architecture architecture, string folder, ulong seed = 14)
    {
        string stem = architecture.Registers > 0 ? $"vit{architecture.EmbedDim}-reg" : $"vit{architecture.EmbedDim}";
        string official = Path.Combine(folder, $"{stem}.pth"), hub = Path.Combine(folder, $"{stem}.safetensors");
        using var network = Random(architecture, seed);
        network.save_py(official);
        var weights = network.state_dict();
        var hf = ToHuggingFace(weights, architecture);
        Safetensors.SaveStateDict(hub, hf);
        foreach (var t in hf.Values) t.Dispose();
        return (official, hub);
    }

    /// <summary>The network with every parameter drawn from SplitMix64, scaled so that activations stay moderate through all blocks.</summary>
    public static DinoVisionTransformer Random(DinoV2Architecture architecture, ulong seed = 14)
    {
        var network = new DinoVisionTransformer(architecture);
        ulong state = seed;
        using var noGrad = no_grad();
        foreach (var (name, parameter) in network.state_dict())
        {
            var values = new float[parameter.numel()];
            (double centre, double spread) = Range(name, parameter);
            for (int i = 0; i < values.Length; i++) values[i] = (float)(centre + spread * Uniform(ref state));
            parameter.data<float>().CopyFrom(values);
        }
        return network;
    }

    private static (double Centre, double Spread) Range(string name, Tensor parameter)
    {
        if (name.EndsWith(".gamma", StringComparison.Ordinal)) return (0.5, 0.4);
        if (name.Contains("norm", StringComparison.Ordinal)) return name.EndsWith(".weight", StringComparison.Ordinal) ? (1, 0.2) : (0, 0.1);
        if (name is "cls_token" or "pos_embed" or "register_tokens" or "mask_token") return (0, 1);
        if (name.EndsWith(".bias", StringComparison.Ordinal)) return (0, 0.05);
        long fanIn = parameter.numel() / parameter.shape[0];
        return (0, Math.Sqrt(3.0 / fanIn));
    }

    /// <summary>Uniform in [-1, 1) from SplitMix64.</summary>
    private static double Uniform(ref ulong state)
    {
        ulong z = state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (z >> 40) / (double)(1UL << 24) * 2 - 1;
    }

    /// <summary>The official names mapped as the Hugging Face conversion script maps them.</summary>
    private static Dictionary<string, Tensor> ToHuggingFace(IDictionary<string, Tensor> weights, DinoV2Architecture architecture)
    {
        var hf = new Dictionary<string, Tensor>();
        int d = architecture.EmbedDim;
        foreach (var (name, value) in weights)
        {
            if (name.StartsWith("blocks.", StringComparison.Ordinal))
            {
                int dot = name.IndexOf('.', 7);
                string block = name[7..dot], rest = name[(dot + 1)..], prefix = $"encoder.layer.{block}.";
                if (rest.StartsWith("attn.qkv.", StringComparison.Ordinal))
                {
                    string kind = rest["attn.qkv.".Length..];
                    string[] parts = ["query", "key", "value"];
                    for (int i = 0; i < 3; i++) hf[$"{prefix}attention.attention.{parts[i]}.{kind}"] = value.narrow(0, i * d, d).clone();
                    continue;
                }
                rest = rest.Replace("attn.proj.", "attention.output.dense.").Replace("ls1.gamma", "layer_scale1.lambda1")
                    .Replace("ls2.gamma", "layer_scale2.lambda1").Replace("mlp.w12.", "mlp.weights_in.").Replace("mlp.w3.", "mlp.weights_out.");
                hf[prefix + rest] = value.clone();
                continue;
            }
            string mapped = name switch
            {
                "cls_token" => "embeddings.cls_token",
                "mask_token" => "embeddings.mask_token",
                "register_tokens" => "embeddings.register_tokens",
                "pos_embed" => "embeddings.position_embeddings",
                "patch_embed.proj.weight" => "embeddings.patch_embeddings.projection.weight",
                "patch_embed.proj.bias" => "embeddings.patch_embeddings.projection.bias",
                "norm.weight" => "layernorm.weight",
                "norm.bias" => "layernorm.bias",
                _ => throw new InvalidOperationException($"unmapped parameter {name}"),
            };
            hf[mapped] = value.clone();
        }
        return hf;
    }
}
