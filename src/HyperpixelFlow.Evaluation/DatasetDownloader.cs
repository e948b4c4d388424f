using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;

namespace HyperpixelFlow.Evaluation;

/// <summary>Where a benchmark is published: archive address, the folder it unpacks to, and its checksum when known.</summary>
public sealed record DatasetSource(string Name, string Url, string Folder, long? Size = null, string? Sha256 = null);

/// <summary>
/// Downloads a benchmark archive resumably (HTTP range requests continue a partial <c>.part</c> file), verifies its size
/// and SHA-256 when known, and unpacks it (.tar, .tar.gz/.tgz or .zip) into the target folder.
/// </summary>
public sealed class DatasetDownloader(HttpClient http)
{
    /// <summary>
    /// The archives of the known benchmarks (<see cref="DatasetSpec.Source"/>: the Hyperpixel Flow authors' files in the
    /// layouts the loaders read, and the official SPair-71k archive). Mirrors can be given with an explicit URL.
    /// </summary>
    public static IReadOnlyList<DatasetSource> Known { get; } = DatasetRegistry.All.Select(s => s.Source).ToList();

    /// <summary>The published archive of a benchmark by name or alias.</summary>
    public static DatasetSource Find(string name) => DatasetRegistry.Get(name).Source;

    /// <summary>
    /// Fetches and unpacks <paramref name="source"/> under <paramref name="destination"/>; returns the archive path.
    /// <paramref name="progress"/> gets (bytes so far, total bytes or null).
    /// </summary>
    public async Task<string> DownloadAsync(DatasetSource source, string destination, Action<long, long?>? progress = null,
        CancellationToken cancel = default)
    {
        Directory.CreateDirectory(destination);
        string archive = Path.Combine(destination, source.Name + ArchiveExtension(source.Url));
        string partial = archive + ".part";
        if (!File.Exists(archive))
        {
            await FetchAsync(source, partial, progress, cancel);
            File.Move(partial, archive, overwrite: true);
        }
        Verify(source, archive);
        Extract(archive, destination);
        return archive;
    }

    private async Task FetchAsync(DatasetSource source, string partial, Action<long, long?>? progress, CancellationToken cancel)
    {
        long have = File.Exists(partial) ? new FileInfo(partial).Length : 0;
        using var request = new HttpRequestMessage(HttpMethod.Get, source.Url);
        if (have > 0) request.Headers.Range = new RangeHeaderValue(have, null);
        HttpResponseMessage response;
        try { response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel); }
        catch (HttpRequestException e) { throw new HyperpixelFlowException($"cannot reach {source.Url}: {e.Message}", e); }
        using (response)
        {
            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && source.Size is null) return; // already complete
            if (!response.IsSuccessStatusCode)
                throw new HyperpixelFlowException($"{source.Url}: server answered {(int)response.StatusCode} {response.ReasonPhrase}");
            bool resumed = response.StatusCode == HttpStatusCode.PartialContent;
            if (!resumed) have = 0; // the server ignored the range: start over
            long? total = response.Content.Headers.ContentLength is long length ? length + have : source.Size;
            await using var file = new FileStream(partial, resumed ? FileMode.Append : FileMode.Create, FileAccess.Write);
            await using var body = await response.Content.ReadAsStreamAsync(cancel);
            var buffer = new byte[1 << 16];
            int read;
            long done = have;
            try
            {
                while ((read = await body.ReadAsync(buffer, cancel)) > 0)
                {
                    await file.WriteAsync(buffer.AsMemory(0, read), cancel);
                    done += read;
                    progress?.Invoke(done, total);
                }
            }
            catch (Exception e) when (e is IOException or HttpRequestException)
            {
                throw new HyperpixelFlowException($"{source.Url}: connection lost after {done} bytes ({e.Message}); run again to resume", e);
            }
            if (total is long expected && done != expected)
                throw new HyperpixelFlowException($"{source.Url}: download stopped at {done} of {expected} bytes; run again to resume");
        }
    }

    private static void Verify(DatasetSource source, string archive)
    {
        long size = new FileInfo(archive).Length;
        if (source.Size is long expected && size != expected)
        {
            File.Delete(archive);
            throw new HyperpixelFlowException($"{archive}: {size} bytes, expected {expected}; deleted, run again");
        }
        if (source.Sha256 is string sha)
        {
            using var stream = File.OpenRead(archive);
            string actual = Convert.ToHexStringLower(SHA256.HashData(stream));
            if (!string.Equals(actual, sha, StringComparison.OrdinalIgnoreCase))
            {
                File.Delete(archive);
                throw new HyperpixelFlowException($"{archive}: SHA-256 {actual} does not match {sha}; deleted, run again");
            }
        }
    }

    private static string ArchiveExtension(string url)
    {
        string path = new Uri(url).AbsolutePath.ToLowerInvariant();
        foreach (var ext in new[] { ".tar.gz", ".tgz", ".tar", ".zip" })
            if (path.EndsWith(ext, StringComparison.Ordinal)) return ext;
        return ".tar.gz"; // the paper's Drive archives are gzip'd tars
    }

    /// <summary>Unpacks by content (zip or (gzip'd) tar), refusing entries that would land outside the folder.</summary>
    public static void Extract(string archive, string destination)
    {
        string root = Path.GetFullPath(destination) + Path.DirectorySeparatorChar;
        using var stream = File.OpenRead(archive);
        Span<byte> magic = stackalloc byte[4];
        int n = stream.Read(magic);
        stream.Position = 0;
        try
        {
            if (n >= 4 && magic[0] == 'P' && magic[1] == 'K')
            {
                using var zip = new ZipArchive(stream);
                foreach (var entry in zip.Entries)
                {
                    string path = Safe(root, entry.FullName);
                    if (entry.FullName.EndsWith('/')) { Directory.CreateDirectory(path); continue; }
                    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                    entry.ExtractToFile(path, overwrite: true);
                }
                return;
            }
            Stream tar = n >= 2 && magic[0] == 0x1f && magic[1] == 0x8b ? new GZipStream(stream, CompressionMode.Decompress) : stream;
            using var reader = new TarReader(tar);
            while (reader.GetNextEntry() is { } entry)
            {
                string path = Safe(root, entry.Name);
                if (entry.EntryType == TarEntryType.Directory) { Directory.CreateDirectory(path); continue; }
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile)) continue; // links, devices
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                entry.ExtractToFile(path, overwrite: true);
            }
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or FormatException)
        {
            throw new HyperpixelFlowException($"{archive}: not a readable zip or tar archive ({e.Message}); delete it and run again", e);
        }
    }

    private static string Safe(string root, string entry)
    {
        string path = Path.GetFullPath(Path.Combine(root, entry));
        if (!path.StartsWith(root, StringComparison.Ordinal)) throw new HyperpixelFlowException($"archive entry '{entry}' points outside the target folder");
        return path;
    }
}
