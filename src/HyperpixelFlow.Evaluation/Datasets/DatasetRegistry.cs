namespace HyperpixelFlow.Evaluation.Datasets;

/// <summary>
/// What a benchmark is: its name and aliases, how to load a split from its root folder, where it is published, its
/// PCK convention and whether the paper's code prunes hyperpixels at the margin for it. One file per benchmark
/// (<c>PfWillowDataset</c>, ...); adding one is that file and a line in <see cref="DatasetRegistry.All"/>.
/// </summary>
public sealed record DatasetSpec(string Name, string Description, IReadOnlyList<string> Aliases, Func<string, string, BenchmarkDataset> Load,
    DatasetSource Source, PckThreshold DefaultThreshold, bool DefaultMarginPruning);

/// <summary>
/// The benchmarks in their originally published layouts (those the paper's code reads), by name. Every problem with a
/// file is reported as a <see cref="DatasetFormatException"/> naming the file and line.
/// </summary>
public static class DatasetRegistry
{
    /// <summary>Every known benchmark.</summary>
    public static IReadOnlyList<DatasetSpec> All { get; } = [PfWillowDataset.Spec, PfPascalDataset.Spec, SpairDataset.Spec, CaltechDataset.Spec];

    /// <summary>Their names, as <c>--dataset</c> takes them.</summary>
    public static IReadOnlyList<string> Names { get; } = All.Select(s => s.Name).ToList();

    /// <summary>The benchmark of a name or alias (case, '-' and '_' ignored).</summary>
    public static DatasetSpec Get(string name)
    {
        string key = Key(name);
        return All.FirstOrDefault(s => Key(s.Name) == key || s.Aliases.Any(a => Key(a) == key))
            ?? throw new HyperpixelFlowException($"unknown dataset '{name}'; known: {string.Join(", ", Names)}");
    }

    /// <summary>Loads a split of the benchmark <paramref name="name"/> from its root folder.</summary>
    public static BenchmarkDataset Load(string name, string root, string split = "test")
    {
        var spec = Get(name);
        if (!Directory.Exists(root)) throw new HyperpixelFlowException($"{root}: dataset folder not found");
        return spec.Load(root, split);
    }

    private static string Key(string name) => name.ToLowerInvariant().Replace("-", "").Replace("_", "");
}
