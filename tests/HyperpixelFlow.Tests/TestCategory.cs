namespace HyperpixelFlow.Tests;

/// <summary>
/// Test categories (xunit trait "Category"). Tests without one are fast unit tests: no benchmark data, no other
/// processes. <c>dotnet test --filter "Category!=Data&amp;Category!=System"</c> runs only those; CI runs everything.
/// </summary>
public static class TestCategory
{
    /// <summary>Needs ../shared (the benchmark data or the original implementation's outputs).</summary>
    public const string Data = "Data";

    /// <summary>Drives whole programs: hpf processes, the web server, a browser, Slurm, a package feed.</summary>
    public const string System = "System";
}
