namespace HyperpixelFlow.Fuzz;

/// <summary>The committed corpus: <c>tools/HyperpixelFlow.Fuzz/seeds/TARGET/*</c>, written by <c>--write-seeds</c> from the targets' generators.</summary>
public static class Seeds
{
    public static string Folder(FuzzTarget target) => Path.Combine(Root(), "seeds", target.Name);

    /// <summary>
    /// Inputs that once crashed, hung or over-allocated a parser, kept as regression cases (each must now be refused
    /// with a clear error): <c>tools/HyperpixelFlow.Fuzz/regressions/TARGET/*</c>.
    /// </summary>
    public static IReadOnlyList<string> Regressions(FuzzTarget target)
    {
        string folder = Path.Combine(Root(), "regressions", target.Name);
        return Directory.Exists(folder) ? [.. Directory.GetFiles(folder).Order(StringComparer.Ordinal)] : [];
    }

    private static string Root() =>
        Path.Combine(Evaluation.RepositoryRoot.Above(AppContext.BaseDirectory)
            ?? throw new HyperpixelFlowException("the repository (HyperpixelFlow.slnx) is not above the fuzzer"), "tools", "HyperpixelFlow.Fuzz");

    public static IReadOnlyList<byte[]> Read(FuzzTarget target)
    {
        string folder = Folder(target);
        if (!Directory.Exists(folder)) throw new HyperpixelFlowException($"no seeds at {folder}; write them with --write-seeds");
        return [.. Directory.GetFiles(folder).Order(StringComparer.Ordinal).Select(File.ReadAllBytes)];
    }

    public static void Write(FuzzTarget target)
    {
        string folder = Folder(target);
        Directory.CreateDirectory(folder);
        foreach (var old in Directory.GetFiles(folder)) File.Delete(old);
        var seeds = target.Seeds();
        for (int i = 0; i < seeds.Count; i++) File.WriteAllBytes(Path.Combine(folder, $"seed{i + 1}{target.Extension}"), seeds[i]);
        Console.WriteLine($"{target.Name}: {seeds.Count} seeds in {folder}");
    }
}
