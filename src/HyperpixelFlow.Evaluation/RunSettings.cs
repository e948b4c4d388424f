namespace HyperpixelFlow.Evaluation;

/// <summary>
/// What a logged run's results depend on, compared field by field before a results file is resumed or shards are
/// merged: results of different settings never mix.
/// </summary>
public abstract record RunSettings
{
    /// <summary>Every compared field as (name, value), in one order: what <see cref="Differences"/> and <see cref="Fingerprint"/> read.</summary>
    protected abstract IEnumerable<(string Name, string Value)> Fields();

    /// <summary>The matcher's part of the fields: backbone, a hash of its weights, the layers and every result-changing option.</summary>
    protected static IEnumerable<(string Name, string Value)> MatcherFields(string backbone, string weights, IReadOnlyList<int>? layers,
        IReadOnlyDictionary<string, string>? options)
    {
        yield return ("backbone", backbone);
        yield return ("weights", weights);
        yield return ("layers", string.Join(",", layers ?? []));
        foreach (var (key, value) in (options ?? new Dictionary<string, string>()).OrderBy(kv => kv.Key, StringComparer.Ordinal)) yield return (key, value);
    }

    /// <summary>The fields that differ from <paramref name="other"/>, as "name: this vs other" (empty when the same).</summary>
    public IReadOnlyList<string> Differences(RunSettings other)
    {
        var mine = Fields().ToDictionary(f => f.Name, f => f.Value);
        var theirs = other.Fields().ToDictionary(f => f.Name, f => f.Value);
        return mine.Keys.Union(theirs.Keys).Where(k => mine.GetValueOrDefault(k) != theirs.GetValueOrDefault(k))
            .Select(k => $"{k}: {mine.GetValueOrDefault(k) ?? "(none)"} vs {theirs.GetValueOrDefault(k) ?? "(none)"}").ToList();
    }

    /// <summary>Whether results under <paramref name="other"/> may be mixed with these (no field differs).</summary>
    public bool SameAs(RunSettings other) => Differences(other).Count == 0;

    /// <summary>A short hash of everything compared: results files of different settings get different names.</summary>
    public string Fingerprint() => Hashing.Short(string.Join("\n", Fields().Select(f => $"{f.Name}={f.Value}")));
}

/// <summary>
/// Which part of a work list a process takes: shard <see cref="Index"/> of <see cref="Count"/> (1-based) owns the items
/// whose index i satisfies i mod Count = Index - 1, so N processes, on one machine or many, cover the list exactly once
/// (and each gets a spread of it, not one category).
/// </summary>
public readonly record struct Shard(int Index, int Count)
{
    /// <summary>The whole list.</summary>
    public static Shard Whole => new(1, 1);

    /// <summary>Whether item <paramref name="item"/> (0-based) belongs to this shard.</summary>
    public bool Owns(int item) => item % Count == Index - 1;

    /// <summary>"K/N" (1 &lt;= K &lt;= N); a clear error otherwise.</summary>
    public static Shard Parse(string text)
    {
        var parts = text.Split('/', StringSplitOptions.TrimEntries);
        if (parts.Length == 2 && int.TryParse(parts[0], out int k) && int.TryParse(parts[1], out int n) && n >= 1 && k >= 1 && k <= n)
            return new Shard(k, n);
        throw new HyperpixelFlowException($"--shard: '{text}' is not K/N with 1 <= K <= N (e.g. 2/8)");
    }

    /// <inheritdoc />
    public override string ToString() => $"{Index}/{Count}";
}
