using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using HyperpixelFlow.Flow;
using HyperpixelFlow.Imaging;
using HyperpixelFlow.Visualization;
using Microsoft.Playwright;
using SkiaSharp;

namespace HyperpixelFlow.Tests;

/// <summary><c>hpf serve</c> as a separate process on a free loopback port, shared by the web tests.</summary>
public class HpfServer : IDisposable
{
    private readonly Process _process;

    public HpfServer() : this([])
    {
    }

    protected HpfServer(string[] extraArguments)
    {
        Dir = TestFolders.Create("web");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "hpf.dll"), "serve", "--port", "0", "--host", "127.0.0.1" }.Concat(extraArguments))
            info.ArgumentList.Add(a);
        info.Environment["TMPDIR"] = Dir;   // the server is killed at the end: its runtime's pipes and socket go with the folder
        _process = Process.Start(info)!;
        var line = _process.StandardOutput.ReadLineAsync();
        if (!line.Wait(TimeSpan.FromSeconds(120)) || line.Result is null)
        {
            _process.Kill(true);
            throw new InvalidOperationException("hpf serve did not start: " + _process.StandardError.ReadToEnd());
        }
        var address = System.Text.RegularExpressions.Regex.Match(line.Result, @"http://[^ ]+").Value;
        Assert.StartsWith("http://127.0.0.1:", address);
        Address = address;
        var access = _process.StandardOutput.ReadLineAsync();
        AccessLine = access.Wait(TimeSpan.FromSeconds(30)) ? access.Result ?? "" : "";
        Client = new HttpClient { BaseAddress = new Uri(address), Timeout = TimeSpan.FromMinutes(2) };
        (SourcePath, TargetPath) = TestImages.WritePair(Dir, "source.png", "target.png");
        (OtherSourcePath, OtherTargetPath) = TestImages.WritePair(Dir, "source2.png", "target2.png", 320, 240, seed: 5);
    }

    public string Address { get; }
    /// <summary>The second line hpf serve prints: its access rules.</summary>
    public string AccessLine { get; }
    public HttpClient Client { get; }
    public string Dir { get; }
    public string SourcePath { get; }
    public string TargetPath { get; }
    public string OtherSourcePath { get; }
    public string OtherTargetPath { get; }

    /// <summary>The library's answer for the same images and points, with the server's (default) options.</summary>
    public static MatchResult Library(string source, string target, IReadOnlyList<Point2> points)
    {
        using var matcher = new HyperpixelMatcher();
        return matcher.Match(source, target, points);
    }

    public async Task<(HttpStatusCode Status, JsonElement Body)> Upload(byte[] bytes, string name, string field = "file")
    {
        using var form = new MultipartFormDataContent();
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(content, field, name);
        // Expect: 100-continue lets the server refuse an oversized upload before the client sends it.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/images") { Content = form };
        request.Headers.ExpectContinue = true;
        var response = await Client.SendAsync(request);
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    public async Task<(HttpStatusCode Status, JsonElement Body)> Post(string path, string json)
    {
        var response = await Client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    public void Dispose()
    {
        GC.SuppressFinalize(this);
        Client.Dispose();
        try { _process.Kill(true); _process.WaitForExit(10_000); } catch (InvalidOperationException) { }
        _process.Dispose();
        TestFolders.Delete(Dir);
    }
}

[Trait("Category", TestCategory.System)]
public class WebApiTests(HpfServer server) : IClassFixture<HpfServer>
{
    private async Task<string> UploadFile(string path)
    {
        var (status, body) = await server.Upload(File.ReadAllBytes(path), Path.GetFileName(path));
        Assert.True(status == HttpStatusCode.OK, body.ToString());
        return body.GetProperty("id").GetString()!;
    }

    private static string MatchJson(string source, string target, IEnumerable<Point2> points) =>
        JsonSerializer.Serialize(new { source, target, points = points.Select(p => new[] { p.X, p.Y }) });

    private static List<(Point2 Source, Point2 Target, double Confidence)> Points(JsonElement body) =>
        body.GetProperty("points").EnumerateArray().Select(p => (
            new Point2(p.GetProperty("source")[0].GetDouble(), p.GetProperty("source")[1].GetDouble()),
            new Point2(p.GetProperty("target")[0].GetDouble(), p.GetProperty("target")[1].GetDouble()),
            p.GetProperty("confidence").GetDouble())).ToList();

    [Fact]
    public async Task Health_options_and_upload_describe_the_server_and_the_image()
    {
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/api/health")).StatusCode);
        var options = JsonDocument.Parse(await server.Client.GetStringAsync("/api/options")).RootElement;
        Assert.Equal("default", options.GetProperty("preset").GetString());
        Assert.Equal(new HyperpixelFlowOptions().Image.MaxSide, options.GetProperty("max_side").GetInt32());
        var (status, body) = await server.Upload(File.ReadAllBytes(server.SourcePath), "../../etc/passwd");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(400, body.GetProperty("width").GetInt32());
        Assert.Equal(300, body.GetProperty("height").GetInt32());
        Assert.Equal("passwd", body.GetProperty("name").GetString());   // a name is shown, never a path
        var png = await server.Client.GetByteArrayAsync($"/api/images/{body.GetProperty("id").GetString()}");
        Assert.Equal(ImageLoader.Load(server.SourcePath).Pixels, ImageLoader.Decode(png, "served").Pixels);
    }

    [Fact]
    public async Task Match_gives_the_numbers_the_library_gives()
    {
        string s = await UploadFile(server.SourcePath), t = await UploadFile(server.TargetPath);
        // Six points: an annotation whose confidences read the set (the library's and the page's must agree).
        Point2[] points = [new(60.5, 70.25), new(200, 150), new(350, 260), new(120, 220), new(300, 60), new(250, 200)];
        var (status, body) = await server.Post("/api/match", MatchJson(s, t, points));
        Assert.True(status == HttpStatusCode.OK, body.ToString());
        var library = HpfServer.Library(server.SourcePath, server.TargetPath, points);
        var served = Points(body);
        Assert.Equal(points.Length, served.Count);
        for (int i = 0; i < points.Length; i++)
        {
            Assert.Equal(points[i], served[i].Source);
            Assert.Equal(library.Points[i].Target, served[i].Target);
            Assert.Equal(Math.Round(library.Points[i].Confidence, 4), served[i].Confidence);
        }
        // result.json for download: the same file hpf match writes, with the same points.
        var (resultStatus, result) = await server.Post("/api/result", MatchJson(s, t, points));
        Assert.Equal(HttpStatusCode.OK, resultStatus);
        Assert.Equal(served.Select(p => p.Target), Points(result).Select(p => p.Target));
        Assert.Equal(400, result.GetProperty("flow").GetProperty("width").GetInt32());
        Assert.Equal(library.Diagnostics.Matching, result.GetProperty("method").GetString());
    }

    [Fact]
    public async Task Heat_map_is_the_confidence_row_of_the_nearest_source_hyperpixel_and_pictures_are_pngs()
    {
        string s = await UploadFile(server.SourcePath), t = await UploadFile(server.TargetPath);
        var (status, map) = await server.Post("/api/heatmap", JsonSerializer.Serialize(new { source = s, target = t, point = new[] { 120.0, 90.0 } }));
        Assert.True(status == HttpStatusCode.OK, map.ToString());
        int w = map.GetProperty("width").GetInt32(), h = map.GetProperty("height").GetInt32();
        var values = map.GetProperty("values").EnumerateArray().Select(v => v.GetDouble()).ToList();
        Assert.Equal(w * h, values.Count);
        Assert.Equal(1.0, values.Max(), 3);
        Assert.All(values, v => Assert.InRange(v, 0, 1));
        // The row's best cell is the hyperpixel match of that source hyperpixel.
        using var matcher = new HyperpixelMatcher();
        using var sd = matcher.Describe(server.SourcePath);
        using var td = matcher.Describe(server.TargetPath);
        var whole = matcher.Match(sd, td);
        var hp = map.GetProperty("source_hyperpixel");
        var expected = whole.HyperpixelMatches.Single(m => Math.Abs(m.Source.X - hp[0].GetDouble()) < 1e-6 && Math.Abs(m.Source.Y - hp[1].GetDouble()) < 1e-6);
        int best = values.IndexOf(values.Max());
        var first = map.GetProperty("first_center");
        var step = map.GetProperty("step");
        Assert.Equal(expected.Target.X, first[0].GetDouble() + best % w * step[0].GetDouble(), 3);
        Assert.Equal(expected.Target.Y, first[1].GetDouble() + best / w * step[1].GetDouble(), 3);
        foreach (var kind in new[] { "flow", "warped" })
        {
            var response = await server.Client.PostAsync($"/api/pictures/{kind}", new StringContent(JsonSerializer.Serialize(new { source = s, target = t }), Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var picture = ImageLoader.Decode(await response.Content.ReadAsByteArrayAsync(), kind);
            Assert.Equal((400, 300), (picture.Width, picture.Height));   // the target's frame, to lie over it
        }
        var (hpStatus, hpMatches) = await server.Post("/api/hyperpixel-matches", JsonSerializer.Serialize(new { source = s, target = t }));
        Assert.Equal(HttpStatusCode.OK, hpStatus);
        Assert.Equal(whole.HyperpixelMatches.Count(m => m.Mutual), hpMatches.GetProperty("matches").GetArrayLength());
    }

    [Fact]
    public async Task Every_bad_input_gets_its_status_and_a_message_and_the_server_goes_on()
    {
        string s = await UploadFile(server.SourcePath), t = await UploadFile(server.TargetPath);
        var png = File.ReadAllBytes(server.SourcePath);
        using var huge = new SKBitmap(5000, 4000);   // 20 MP > the 16 MP limit, small as a PNG
        huge.Erase(SKColors.Gray);
        byte[] hugePng;
        using (var data = huge.Encode(SKEncodedImageFormat.Png, 1)) hugePng = data.ToArray();
        var cases = new (string What, Func<Task<(HttpStatusCode, JsonElement)>> Call, HttpStatusCode Status, string Message)[]
        {
            ("text file", () => server.Upload(Encoding.UTF8.GetBytes("not an image\n"), "notes.txt"), HttpStatusCode.UnsupportedMediaType, "not a readable image"),
            ("empty file", () => server.Upload([], "empty.png"), HttpStatusCode.UnsupportedMediaType, "empty"),
            ("too many bytes", () => server.Upload(new byte[21 << 20], "big.png"), HttpStatusCode.RequestEntityTooLarge, "limit of 20 MB"),
            ("too many pixels", () => server.Upload(hugePng, "huge.png"), HttpStatusCode.UnprocessableEntity, "more than the limit of 16000000"),
            ("truncated", () => server.Upload(png[..(png.Length / 2)], "cut.png"), HttpStatusCode.UnprocessableEntity, "damaged or truncated"),
            ("no file field", () => server.Upload(png, "a.png", field: "image"), HttpStatusCode.BadRequest, "no field 'file'"),
            ("unknown id", () => server.Post("/api/match", MatchJson("0123456789abcdef", t, [new(1, 1)])), HttpStatusCode.NotFound, "unknown image id"),
            ("malformed JSON", () => server.Post("/api/match", "{\"source\": "), HttpStatusCode.BadRequest, "malformed JSON"),
            ("missing ids", () => server.Post("/api/match", "{}"), HttpStatusCode.BadRequest, "'source' and 'target'"),
            ("point outside", () => server.Post("/api/match", MatchJson(s, t, [new(400, 10)])), HttpStatusCode.UnprocessableEntity, "outside the source image"),
            ("not a number", () => server.Post("/api/match", $"{{\"source\":\"{s}\",\"target\":\"{t}\",\"points\":[[\"a\",1]]}}"), HttpStatusCode.BadRequest, "malformed JSON"),
            ("point not a pair", () => server.Post("/api/match", $"{{\"source\":\"{s}\",\"target\":\"{t}\",\"points\":[[1]]}}"), HttpStatusCode.BadRequest, "must be [x, y]"),
            ("too many points", () => server.Post("/api/match", MatchJson(s, t, Enumerable.Repeat(new Point2(5, 5), 101))), HttpStatusCode.UnprocessableEntity, "at most 100"),
            ("bad layers", () => server.Post("/api/match", $"{{\"source\":\"{s}\",\"target\":\"{t}\",\"points\":[[1,1]],\"options\":{{\"layers\":[99]}}}}"), HttpStatusCode.UnprocessableEntity, "99"),
            ("unknown preset", () => server.Post("/api/match", $"{{\"source\":\"{s}\",\"target\":\"{t}\",\"points\":[[1,1]],\"options\":{{\"preset\":\"best\"}}}}"), HttpStatusCode.UnprocessableEntity, "best"),
            ("unknown picture", () => server.Post("/api/pictures/thumbnail", MatchJson(s, t, [])), HttpStatusCode.NotFound, "unknown picture"),
            ("unknown address", async () => { var r = await server.Client.GetAsync("/api/nothing"); return (r.StatusCode, JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement.Clone()); }, HttpStatusCode.NotFound, "no such address"),
        };
        foreach (var (what, call, expected, message) in cases)
        {
            var (status, body) = await call();
            Assert.True(status == expected, $"{what}: {(int)status} {body}");
            Assert.Contains(message, body.GetProperty("error").GetString(), StringComparison.OrdinalIgnoreCase);
        }
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/api/health")).StatusCode);
        var (okStatus, _) = await server.Post("/api/match", MatchJson(s, t, [new(10, 10)]));
        Assert.Equal(HttpStatusCode.OK, okStatus);
    }

    [Fact]
    public async Task Parallel_requests_on_two_pairs_give_the_sequential_answers()
    {
        string[] files = [server.SourcePath, server.TargetPath, server.OtherSourcePath, server.OtherTargetPath];
        List<string> Requests(string[] ids) => Enumerable.Range(0, 8).Select(k => k % 2 == 0
            ? MatchJson(ids[0], ids[1], [new(50 + k, 60), new(300, 200 - k)])
            : MatchJson(ids[2], ids[3], [new(40 + k, 30), new(250, 180 - k)])).ToList();
        static string Answer(JsonElement body) => string.Join(";", Points(body));
        // Sequential on one upload of the images, parallel on another (new ids: nothing cached), so that both compute.
        var sequential = new List<string>();
        foreach (var r in Requests(await Task.WhenAll(files.Select(UploadFile))))
        {
            var (status, body) = await server.Post("/api/match", r);
            Assert.Equal(HttpStatusCode.OK, status);
            sequential.Add(Answer(body));
        }
        var parallel = await Task.WhenAll(Requests(await Task.WhenAll(files.Select(UploadFile))).Select(async r =>
        {
            var (status, body) = await server.Post("/api/match", r);
            Assert.Equal(HttpStatusCode.OK, status);
            return Answer(body);
        }));
        Assert.Equal(sequential, parallel);
        Assert.NotEqual(sequential[0], sequential[1]);
    }
}

/// <summary>A server started with a token and a low rate limit.</summary>
public sealed class TokenServer() : HpfServer(["--token", TokenServer.Token, "--rate-limit", "3"])
{
    public const string Token = "test-token-0123456789abcdef";
}

[Trait("Category", TestCategory.System)]
public class WebAccessTests(TokenServer server) : IClassFixture<TokenServer>
{
    private async Task<(HttpStatusCode Status, string Body)> Get(string path, Action<HttpRequestHeaders>? headers = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        headers?.Invoke(request.Headers);
        var response = await server.Client.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Every_api_call_needs_the_token_and_each_client_is_rate_limited()
    {
        Assert.Contains("token required", server.AccessLine);
        Assert.Contains("at most 3 requests/s per client", server.AccessLine);
        // The page itself is public; the API is not.
        Assert.Equal(HttpStatusCode.OK, (await Get("/")).Status);
        var (status, body) = await Get("/api/options");
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Contains("needs its token", JsonDocument.Parse(body).RootElement.GetProperty("error").GetString());
        Assert.Equal(HttpStatusCode.Unauthorized, (await Get("/api/options", h => h.Add("X-Hpf-Token", "wrong-token-0123456789"))).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await Get("/api/options?token=" + TokenServer.Token[..^1])).Status);
        Assert.Equal(HttpStatusCode.OK, (await Get("/api/options", h => h.Add("X-Hpf-Token", TokenServer.Token))).Status);
        Assert.Equal(HttpStatusCode.OK, (await Get("/api/examples", h => h.Authorization = new AuthenticationHeaderValue("Bearer", TokenServer.Token))).Status);
        Assert.Equal(HttpStatusCode.OK, (await Get("/api/health?token=" + TokenServer.Token)).Status);
        // 3 requests/s, bursts of 12: a quick run of 30 is refused part way, with a message; the loop is bounded.
        var statuses = new List<HttpStatusCode>();
        string? refusal = null;
        for (int i = 0; i < 30; i++)
        {
            var (s, b) = await Get("/api/health", h => h.Add("X-Hpf-Token", TokenServer.Token));
            statuses.Add(s);
            if (s == HttpStatusCode.TooManyRequests) refusal ??= b;
        }
        Assert.Contains(HttpStatusCode.OK, statuses);
        Assert.Contains(HttpStatusCode.TooManyRequests, statuses);
        Assert.Contains("too many requests", JsonDocument.Parse(refusal!).RootElement.GetProperty("error").GetString());
    }
}

public class ServeAccessTests
{
    [Fact]
    public void A_token_is_required_off_loopback_generated_when_none_is_given_and_short_ones_are_refused()
    {
        var loopback = Cli.Web.ServeAccess.For("127.0.0.1", null, null, 50);
        Assert.Null(loopback.Token);
        Assert.Null(Cli.Web.ServeAccess.For("::1", null, null, 50).Token);
        var exposed = Cli.Web.ServeAccess.For("0.0.0.0", null, null, 50);
        Assert.True(exposed.TokenGenerated);
        Assert.True(exposed.Token!.Length >= 32);
        Assert.NotEqual(exposed.Token, Cli.Web.ServeAccess.For("0.0.0.0", null, null, 50).Token);
        Assert.Equal("from-the-environment-123", Cli.Web.ServeAccess.For("0.0.0.0", null, "from-the-environment-123", 50).Token);
        Assert.Equal("given-on-the-command-line", Cli.Web.ServeAccess.For("10.0.0.1", "given-on-the-command-line", "from-the-environment-123", 50).Token);
        Assert.Contains("at least 16", Assert.Throws<HyperpixelFlowException>(() => Cli.Web.ServeAccess.For("0.0.0.0", "short", null, 50)).Message);
        Assert.Contains("rate-limit", Assert.Throws<HyperpixelFlowException>(() => Cli.Web.ServeAccess.For("127.0.0.1", null, null, 0)).Message);
    }
}
