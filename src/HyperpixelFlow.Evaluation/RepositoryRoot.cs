namespace HyperpixelFlow.Evaluation;

/// <summary>The source repository around a folder, for the tools that write into it (calibrations, fuzzing seeds) and the tests.</summary>
internal static class RepositoryRoot
{
    /// <summary>The nearest folder at or above <paramref name="start"/> holding HyperpixelFlow.slnx, or null.</summary>
    public static string? Above(string start)
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "HyperpixelFlow.slnx"))) return dir.FullName;
        return null;
    }
}
