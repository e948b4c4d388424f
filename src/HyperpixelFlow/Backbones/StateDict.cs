using TorchSharp;
using static TorchSharp.torch;

namespace HyperpixelFlow.Backbones;

/// <summary>Copies named tensors into a module's parameters and buffers, reporting every mismatch at once.</summary>
internal static class StateDict
{
    /// <summary>Keys a checkpoint may carry that inference does not need.</summary>
    private static bool IsIgnorable(string key) => key.EndsWith(".num_batches_tracked", StringComparison.Ordinal);

    public static void Load(nn.Module module, IReadOnlyDictionary<string, Tensor> weights, string source)
    {
        var targets = module.state_dict();
        var missing = targets.Keys.Where(k => !weights.ContainsKey(k) && !IsIgnorable(k)).ToList();
        var unexpected = weights.Keys.Where(k => !targets.ContainsKey(k) && !IsIgnorable(k)).ToList();
        var misShaped = targets.Where(kv => weights.TryGetValue(kv.Key, out var w) && !w.shape.SequenceEqual(kv.Value.shape))
            .Select(kv => $"{kv.Key} (expected [{string.Join(",", kv.Value.shape)}], got [{string.Join(",", weights[kv.Key].shape)}])")
            .ToList();
        if (missing.Count + unexpected.Count + misShaped.Count > 0)
        {
            var parts = new List<string>();
            if (missing.Count > 0) parts.Add($"missing {missing.Count}: {Summarize(missing)}");
            if (unexpected.Count > 0) parts.Add($"unexpected {unexpected.Count}: {Summarize(unexpected)}");
            if (misShaped.Count > 0) parts.Add($"mis-shaped {misShaped.Count}: {Summarize(misShaped)}");
            throw new HyperpixelFlowException($"{source}: weights do not fit the network; {string.Join("; ", parts)}");
        }
        using var noGrad = no_grad();
        foreach (var (key, target) in targets)
            if (weights.TryGetValue(key, out var value))
                target.copy_(value.to(target.dtype));
    }

    private static string Summarize(List<string> items) =>
        string.Join(", ", items.Take(12)) + (items.Count > 12 ? $", ... ({items.Count - 12} more)" : "");
}
