namespace HyperpixelFlow.Tests;

/// <summary>
/// Locates ../shared (benchmark data and reference outputs) relative to the repository root. In CI (CI=true) a
/// missing folder fails the test loudly; elsewhere the test is skipped with a message.
/// </summary>
public static class SharedData
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string Root => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));

    public static string PfWillow => Require(Path.Combine(Root, "data", "PF-WILLOW"));
    public static string SpairSample => Require(Path.Combine(Root, "data", "SPair-71k-sample"));
    public static string Reference => Require(Path.Combine(Root, "reference"));

    /// <summary>The first <paramref name="count"/> pairs of a PF-WILLOW split, as a dataset of their own.</summary>
    public static Evaluation.BenchmarkDataset PfWillowPairs(string split, int count)
    {
        var full = Evaluation.Datasets.PfWillowDataset.Load(PfWillow, split);
        return full with { Pairs = full.Pairs.Take(count).ToList() };
    }

    private static string Require(string path)
    {
        if (Directory.Exists(path)) return path;
        string message = $"shared data not found at {path} (expected ../shared beside the repository)";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
            throw new InvalidOperationException(message + "; CI must provide it");
        Skip.If(true, message);
        return path;
    }

    private static string FindRepoRoot() => Evaluation.RepositoryRoot.Above(AppContext.BaseDirectory)
        ?? throw new InvalidOperationException("repository root (HyperpixelFlow.slnx) not found above " + AppContext.BaseDirectory);
}
