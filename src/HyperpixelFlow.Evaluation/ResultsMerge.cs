using System.Text;
using System.Text.Json;

namespace HyperpixelFlow.Evaluation;

/// <summary>
/// Joins the results logs of a run's shards into the log one process would have written: the same header (shard
/// 1/1), every item once, in index order. Refuses logs of other settings, and names missing and duplicated items.
/// </summary>
internal static class ResultsMerge
{
    /// <summary>The kind of run a results file holds (line 1's <c>kind</c>).</summary>
    public static string KindOf(string path)
    {
        if (!File.Exists(path)) throw new HyperpixelFlowException($"{path}: file not found");
        using var reader = new StreamReader(path);
        string? first = reader.ReadLine();
        try
        {
            if (first is not null && JsonDocument.Parse(first).RootElement.TryGetProperty("kind", out var kind) && kind.GetString() is { } name) return name;
        }
        catch (JsonException) { }
        throw new HyperpixelFlowException($"{path}: not a results file of hpf evaluate or hpf transfer (no header line with a kind)");
    }

    public static (LogHeader<TSettings> Header, List<TItem> Items) Merge<TSettings, TItem>(IReadOnlyList<string> files)
        where TSettings : RunSettings where TItem : ILoggedItem
    {
        if (files.Count == 0) throw new HyperpixelFlowException("no results files to merge");
        var logs = files.Select(f => (File: f, Log: ResultsLog<TSettings, TItem>.ReadAll(f))).ToList();
        var first = logs[0];
        foreach (var (file, log) in logs.Skip(1))
        {
            var differences = ResultsLog<TSettings, TItem>.Differences(first.Log.Header, log.Header, exceptShard: true);
            if (differences.Count > 0)
                throw new HyperpixelFlowException($"{file} is not a shard of the same run as {first.File} ({string.Join("; ", differences)})");
        }
        var problems = new List<string>();
        var shards = logs.GroupBy(l => l.Log.Header.Shard).Where(g => g.Count() > 1).Select(g => $"shard {g.Key} given {g.Count()} times").ToList();
        problems.AddRange(shards);
        var counts = logs.Select(l => l.Log.Header.Shard).Select(Shard.Parse).Select(s => s.Count).Distinct().ToList();
        if (counts.Count == 1)
        {
            var present = logs.Select(l => Shard.Parse(l.Log.Header.Shard).Index).ToHashSet();
            var absent = Enumerable.Range(1, counts[0]).Where(k => !present.Contains(k)).Select(k => $"{k}/{counts[0]}").ToList();
            if (absent.Count > 0) problems.Add($"no file for shard {string.Join(", ", absent)}");
        }
        int total = first.Log.Header.Items;
        var byIndex = logs.SelectMany(l => l.Log.Items).GroupBy(i => i.Index).ToDictionary(g => g.Key, g => g.ToList());
        var outside = byIndex.Keys.Where(i => i < 0 || i >= total).Order().ToList();
        var duplicated = byIndex.Where(kv => kv.Value.Count > 1).Select(kv => kv.Key).Order().ToList();
        var missing = Enumerable.Range(0, total).Where(i => !byIndex.ContainsKey(i)).ToList();
        if (missing.Count > 0) problems.Add($"{missing.Count} of {total} items missing ({Few(missing)}: a shard not finished? re-run it to resume)");
        if (duplicated.Count > 0) problems.Add($"{duplicated.Count} items in more than one file ({Few(duplicated)})");
        if (outside.Count > 0) problems.Add($"{outside.Count} items outside the work list of {total} ({Few(outside)})");
        if (problems.Count > 0) throw new HyperpixelFlowException($"cannot merge {files.Count} files: {string.Join("; ", problems)}");
        var header = first.Log.Header with { Shard = Shard.Whole.ToString() };
        return (header, byIndex.OrderBy(kv => kv.Key).Select(kv => kv.Value[0]).ToList());
    }

    private static string Few(List<int> indices) =>
        "index " + string.Join(", ", indices.Take(8)) + (indices.Count > 8 ? ", ..." : "");

    /// <summary>Writes a merged log (header, then the items in order) as a results file.</summary>
    public static void Write<TSettings, TItem>(string path, LogHeader<TSettings> header, IEnumerable<TItem> items)
        where TSettings : RunSettings where TItem : ILoggedItem
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        using var writer = new StreamWriter(path, append: false, new UTF8Encoding(false));
        var json = ResultsLog<TSettings, TItem>.Json;
        writer.Write(JsonSerializer.Serialize(header, json) + "\n");
        foreach (var item in items) writer.Write(JsonSerializer.Serialize(item, json) + "\n");
    }
}
