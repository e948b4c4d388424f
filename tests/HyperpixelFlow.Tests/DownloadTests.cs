using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace HyperpixelFlow.Tests;

/// <summary>The downloader against a local HTTP server (loopback only) that can cut a transfer short and honours ranges.</summary>
public class DownloadTests
{
    private static byte[] BuildArchive()
    {
        using var packed = new MemoryStream();
        using (var gzip = new GZipStream(packed, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gzip))
        {
            var random = new Random(3);
            foreach (var name in new[] { "PF-WILLOW/test_pairs.csv", "PF-WILLOW/car/a.png", "PF-WILLOW/car/b.png" })
            {
                var data = new byte[name.EndsWith(".csv") ? 100 : 200_000];
                random.NextBytes(data);
                tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(data) });
            }
        }
        return packed.ToArray();
    }

    private sealed class Server : IDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly byte[] _payload;
        public int Requests;
        public int CutAfterBytes = -1;     // first response stops after this many bytes
        public string? LastRange;
        public string Url { get; }

        public Server(byte[] payload)
        {
            _payload = payload;
            int port;
            using (var probe = new TcpListener(IPAddress.Loopback, 0)) { probe.Start(); port = ((IPEndPoint)probe.LocalEndpoint).Port; probe.Stop(); }
            Url = $"http://127.0.0.1:{port}/data/PF-WILLOW.tar.gz";
            _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            _listener.Start();
            _ = Task.Run(Serve);
        }

        private async Task Serve()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext context;
                try { context = await _listener.GetContextAsync(); } catch { return; }
                int request = Interlocked.Increment(ref Requests);
                var response = context.Response;
                LastRange = context.Request.Headers["Range"];
                long start = LastRange is string r ? long.Parse(r.Split('=')[1].TrimEnd('-')) : 0;
                response.StatusCode = start > 0 ? 206 : 200;
                if (start > 0) response.AddHeader("Content-Range", $"bytes {start}-{_payload.Length - 1}/{_payload.Length}");
                response.ContentLength64 = _payload.Length - start;
                int count = (int)(_payload.Length - start);
                if (request == 1 && CutAfterBytes >= 0)
                {
                    await response.OutputStream.WriteAsync(_payload.AsMemory((int)start, CutAfterBytes));
                    await response.OutputStream.FlushAsync();
                    response.Abort();
                    continue;
                }
                await response.OutputStream.WriteAsync(_payload.AsMemory((int)start, count));
                response.Close();
            }
        }

        public void Dispose() => _listener.Close();
    }

    [Fact]
    public async Task Interrupted_download_resumes_with_a_range_request_verifies_and_unpacks()
    {
        var archive = BuildArchive();
        using var server = new Server(archive) { CutAfterBytes = archive.Length / 3 };
        var destination = TestFolders.Create("dl");
        var source = new DatasetSource("pfwillow", server.Url, "PF-WILLOW", archive.Length, Convert.ToHexStringLower(SHA256.HashData(archive)));
        using var http = new HttpClient();
        var downloader = new DatasetDownloader(http);

        var first = await Assert.ThrowsAsync<HyperpixelFlowException>(() => downloader.DownloadAsync(source, destination));
        Assert.Contains("run again to resume", first.Message);
        long partial = new FileInfo(Path.Combine(destination, "pfwillow.tar.gz.part")).Length;
        Assert.InRange(partial, 1, archive.Length - 1);

        long lastProgress = 0;
        await downloader.DownloadAsync(source, destination, (done, total) => lastProgress = done);
        Assert.Equal($"bytes={partial}-", server.LastRange);
        Assert.Equal(archive.Length, lastProgress);
        Assert.Equal(archive, File.ReadAllBytes(Path.Combine(destination, "pfwillow.tar.gz")));
        Assert.Equal(200_000, new FileInfo(Path.Combine(destination, "PF-WILLOW", "car", "b.png")).Length);
        Assert.True(File.Exists(Path.Combine(destination, "PF-WILLOW", "test_pairs.csv")));
    }

    [Fact]
    public async Task A_wrong_checksum_is_refused_and_the_file_removed()
    {
        var archive = BuildArchive();
        using var server = new Server(archive);
        var destination = TestFolders.Create("dl");
        var source = new DatasetSource("pfwillow", server.Url, "PF-WILLOW", Sha256: new string('0', 64));
        using var http = new HttpClient();
        var e = await Assert.ThrowsAsync<HyperpixelFlowException>(() => new DatasetDownloader(http).DownloadAsync(source, destination));
        Assert.Contains("does not match", e.Message);
        Assert.False(File.Exists(Path.Combine(destination, "pfwillow.tar.gz")));
    }

    [Fact]
    public void Archives_cannot_write_outside_the_target_folder()
    {
        var folder = TestFolders.Create("dl");
        string path = Path.Combine(folder, "evil.tar");
        using (var file = File.Create(path))
        using (var tar = new TarWriter(file))
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "../escape.txt") { DataStream = new MemoryStream([1, 2, 3]) });
        var e = Assert.Throws<HyperpixelFlowException>(() => DatasetDownloader.Extract(path, Path.Combine(folder, "out")));
        Assert.Contains("outside the target folder", e.Message);
    }
}
