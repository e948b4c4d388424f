using static TorchSharp.torch;

namespace HyperpixelFlow.Backbones;

/// <summary>
/// The bundled network's inference form (imported from ONNX, batch norms folded, see <see cref="FoldedResNet"/>), saved
/// once as it lies in memory so that later processes read it straight into tensors: the import, the module form's
/// random initialisation and the folding are most of a cold start's backbone time.
/// The file is keyed by the source file's size and time and the backbone's name, written atomically, and re-made when
/// unreadable. Location: <c>HPF_CACHE_DIR</c>, else <c>$XDG_CACHE_HOME/hpf</c>, else <c>~/.cache/hpf</c>;
/// <c>HPF_CACHE_DIR=off</c> turns caching off. Without a writable location the weights are imported every time.
/// </summary>
internal static class WeightCache
{
    // In the file name: raise it whenever the import, the folding or FoldedResNet's file layout changes, so that no
    // process reads an entry another version wrote.
    private const int FormatVersion = 3;

    /// <summary>The cache folder in use, or null when caching is off or no location is known.</summary>
    public static string? Folder
    {
        get
        {
            string? configured = Environment.GetEnvironmentVariable("HPF_CACHE_DIR");
            if (string.Equals(configured, "off", StringComparison.OrdinalIgnoreCase)) return null;
            if (!string.IsNullOrEmpty(configured)) return configured;
            string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            if (!string.IsNullOrEmpty(xdg)) return Path.Combine(xdg, "hpf");
            string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            return string.IsNullOrEmpty(home) ? null : Path.Combine(home, ".cache", "hpf");
        }
    }

    /// <summary>Where the folded network of <paramref name="source"/> for backbone <paramref name="name"/> is cached (null: no cache).</summary>
    public static string? PathFor(string source, string name) => PathFor(source, name, Folder);

    /// <summary>As <see cref="PathFor(string, string)"/> in a given cache folder (null: no cache).</summary>
    public static string? PathFor(string source, string name, string? folder)
    {
        if (folder is null) return null;
        var info = new FileInfo(source);
        return Path.Combine(folder, $"{name}-v{FormatVersion}-{info.Length}-{info.LastWriteTimeUtc.Ticks}.bin");
    }

    /// <summary>The cached network on <paramref name="device"/>, or null when there is no readable entry.</summary>
    public static FoldedResNet? TryLoad(string? cached, Device device)
    {
        if (cached is null || !File.Exists(cached)) return null;
        try
        {
            return FoldedResNet.Read(cached, device);
        }
        catch (Exception)
        {
            return null;   // whatever is wrong with a cache entry (damaged, another layout), the import makes it anew
        }
    }

    /// <summary>
    /// Saves the folded network (to a temporary file moved into place, so a reader never sees half a file) and removes
    /// the same backbone's entries of other format versions, which no version of this program reads again; a failure to
    /// write only costs the next start its speed.
    /// </summary>
    public static void Save(FoldedResNet network, string? cached)
    {
        if (cached is null) return;
        string temporary = $"{cached}.{Environment.ProcessId}.tmp";
        try
        {
            string folder = Path.GetDirectoryName(cached)!;
            Directory.CreateDirectory(folder);
            using (var file = File.Create(temporary)) network.Write(file);
            File.Move(temporary, cached, overwrite: true);
            string name = Path.GetFileName(cached), versionTag = $"-v{FormatVersion}-";
            int tagAt = name.IndexOf(versionTag, StringComparison.Ordinal);
            if (tagAt > 0)
                foreach (var old in Directory.EnumerateFiles(folder, $"{name[..tagAt]}-v*-*.bin")
                             .Where(f => !Path.GetFileName(f).Contains(versionTag, StringComparison.Ordinal)))
                    File.Delete(old);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(temporary); } catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException) { }
        }
    }
}
