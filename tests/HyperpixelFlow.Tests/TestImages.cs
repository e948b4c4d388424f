using HyperpixelFlow.Imaging;
using HyperpixelFlow.Visualization;

namespace HyperpixelFlow.Tests;

/// <summary>Synthetic pairs written as PNG files, for the tests that run the program or the server on files.</summary>
internal static class TestImages
{
    /// <summary>Writes <see cref="SyntheticPairs.Create"/>'s pair into <paramref name="dir"/>; the two paths.</summary>
    public static (string Source, string Target) WritePair(string dir, string sourceName, string targetName, int width = 400, int height = 300, int seed = 1)
    {
        var pair = SyntheticPairs.Create(width, height, seed);
        var (source, target) = (Path.Combine(dir, sourceName), Path.Combine(dir, targetName));
        using (var b = pair.Source.ToBitmap()) Pictures.SavePng(b, source);
        using (var b = pair.Target.ToBitmap()) Pictures.SavePng(b, target);
        return (source, target);
    }
}
