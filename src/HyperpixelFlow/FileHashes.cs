namespace HyperpixelFlow;

/// <summary>
/// SHA-256 of files whose identity a result depends on (weights, calibrations, exemplars), remembered per process
/// while the file is unchanged: a weights file of gigabytes is read once however many settings records name it.
/// </summary>
internal static class FileHashes
{
    private static readonly Dictionary<string, (DateTime Written, long Length, string Hash)> Known = [];

    /// <summary>Lower-case hex SHA-256 of the file's content.</summary>
    public static string Sha256(string path)
    {
        var info = new FileInfo(path);
        lock (Known)
        {
            if (Known.TryGetValue(info.FullName, out var known) && known.Written == info.LastWriteTimeUtc && known.Length == info.Length)
                return known.Hash;
            using var stream = info.OpenRead();
            var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(stream));
            Known[info.FullName] = (info.LastWriteTimeUtc, info.Length, hash);
            return hash;
        }
    }

    /// <summary>"sha256:" and the first 16 hex digits: how settings records name a file.</summary>
    public static string Identity(string path) => "sha256:" + Sha256(path)[..16];
}
