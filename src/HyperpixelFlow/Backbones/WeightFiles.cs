using System.Collections;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace HyperpixelFlow.Backbones;

/// <summary>
/// Reads torchvision-style checkpoints (.pth: PyTorch zip/pickle state_dict; .safetensors) into a backbone.
/// Prefixes of wrapped models (<c>backbone.</c>, <c>pretrained.</c>, <c>module.</c>) are stripped; the heads that a
/// feature extractor does not use (classifier <c>fc.*</c>, FCN <c>classifier.*</c> / <c>aux_classifier.*</c>) are dropped.
/// </summary>
internal static class WeightFiles
{
    private static readonly string[] WrapperPrefixes = ["backbone.", "pretrained.", "module."];
    private static readonly string[] UnusedHeads = ["fc.", "classifier.", "aux_classifier."];

    public static void LoadInto(nn.Module network, string path)
    {
        var weights = Read(path);
        try { StateDict.Load(network, weights, path); }
        finally { foreach (var t in weights.Values) t.Dispose(); }
    }

    /// <summary>The checkpoint's tensors under their torchvision backbone names.</summary>
    public static Dictionary<string, Tensor> Read(string path)
    {
        if (!File.Exists(path)) throw new HyperpixelFlowException($"{path}: weights file not found");
        Dictionary<string, Tensor> raw;
        bool safetensors = LooksLikeSafetensors(path);
        if (!safetensors && !LooksLikeZip(path))
            throw new HyperpixelFlowException($"{path}: not a PyTorch checkpoint (a .pth zip archive from torch.save) or a safetensors file");
        if (safetensors) CheckpointGuard.CheckSafetensors(path);
        else CheckpointGuard.CheckPth(path);
        try
        {
            raw = safetensors ? Safetensors.LoadStateDict(path) : ReadPickle(path);
        }
        catch (Exception e) when (e is not HyperpixelFlowException)
        {
            throw new HyperpixelFlowException($"{path}: not a readable .pth or .safetensors state_dict ({e.Message})", e);
        }
        var result = new Dictionary<string, Tensor>();
        foreach (var (key, value) in raw)
        {
            string name = key;
            foreach (var prefix in WrapperPrefixes)
                if (name.StartsWith(prefix, StringComparison.Ordinal)) name = name[prefix.Length..];
            if (UnusedHeads.Any(h => name.StartsWith(h, StringComparison.Ordinal))) { value.Dispose(); continue; }
            if (!result.TryAdd(name, value))
                throw new HyperpixelFlowException($"{path}: two tensors map to '{name}' after removing wrapper prefixes");
        }
        return result;
    }

    private static Dictionary<string, Tensor> ReadPickle(string path)
    {
        Hashtable table = PyTorchUnpickler.UnpickleStateDict(path);
        var result = new Dictionary<string, Tensor>();
        foreach (DictionaryEntry entry in table)
        {
            if (entry.Value is not Tensor t)
                throw new HyperpixelFlowException($"{path}: entry '{entry.Key}' is not a tensor; save model.state_dict(), not the model");
            result[(string)entry.Key] = t;
        }
        return result;
    }

    /// <summary>torch.save writes a zip archive (since PyTorch 1.6): local file header "PK\x03\x04".</summary>
    private static bool LooksLikeZip(string path)
    {
        using var stream = File.OpenRead(path);
        Span<byte> head = stackalloc byte[4];
        return stream.Read(head) == 4 && head[0] == (byte)'P' && head[1] == (byte)'K' && head[2] == 3 && head[3] == 4;
    }

    /// <summary>safetensors: 8-byte little-endian header length, then a JSON header starting with '{'.</summary>
    private static bool LooksLikeSafetensors(string path)
    {
        using var stream = File.OpenRead(path);
        Span<byte> head = stackalloc byte[9];
        if (stream.Read(head) < 9) return false;
        ulong headerLength = BitConverter.ToUInt64(head);
        return head[8] == (byte)'{' && headerLength < (ulong)stream.Length;
    }
}
