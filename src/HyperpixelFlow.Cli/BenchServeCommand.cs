using System.CommandLine;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using HyperpixelFlow.Cli.Web;
using Spectre.Console;

namespace HyperpixelFlow.Cli;

/// <summary>
/// <c>hpf bench-serve</c>: the web page's latencies through the real HTTP API of an in-process server: the first match
/// after choosing two new images (both uploads, which compute their hyperpixels, then the match) and every further
/// click (the match of all points so far; server time and round trip).
/// </summary>
internal static class BenchServeCommand
{
    public static Command Create()
    {
        var datapath = new Option<string>("--datapath") { Description = "PF-WILLOW root (its test_pairs.csv is used)", Required = true };
        var pairs = new Option<int>("--pairs") { Description = "number of pairs (the first N)", DefaultValueFactory = _ => 10 };
        var clicks = new Option<int>("--clicks") { Description = "clicks per pair after the first", DefaultValueFactory = _ => 20 };
        var json = new Option<string?>("--json") { Description = "write the figures as JSON here" };
        var common = new CommonOptions();
        var command = new Command("bench-serve", "time the web page's requests: first match of new images, further clicks") { datapath, pairs, clicks, json };
        common.AddTo(command);
        command.SetAction(r => CliErrors.Run(() => Run(r.GetValue(datapath)!, r.GetValue(pairs), r.GetValue(clicks), r.GetValue(json), common.Parse(r)).GetAwaiter().GetResult()));
        return command;
    }

    private static async Task<int> Run(string root, int pairCount, int clickCount, string? jsonPath, HyperpixelFlowOptions options)
    {
        if (pairCount < 1 || clickCount < 1) throw new HyperpixelFlowException("--pairs and --clicks must be at least 1");
        var pairs = PfWillowDataset.Load(root).Pairs.Take(pairCount + 1).ToList();   // the first one warms up
        using var service = new MatchService(options);
        await using var app = WebApp.Create(service, "127.0.0.1", 0, ServeAccess.Open);
        await app.StartAsync();
        using var client = new HttpClient { BaseAddress = new Uri(WebApp.Address(app)) };
        AnsiConsole.MarkupLine($"bench-serve: {pairs.Count - 1} pairs x {clickCount} clicks, {service.BackboneName}, {Markup.Escape(options.DescribeMethod())}, max side {options.Image.MaxSide}");
        var random = new Random(1);
        var first = new List<double>();
        var clickServer = new List<double>();
        var clickRoundTrip = new List<double>();
        for (int k = 0; k < pairs.Count; k++)
        {
            var pair = pairs[k];
            var watch = Stopwatch.StartNew();
            var source = await Upload(client, pair.SourceImage);
            var target = await Upload(client, pair.TargetImage);
            var points = new List<double[]> { RandomPoint(random, source) };
            await Match(client, source, target, points);
            double firstSeconds = watch.Elapsed.TotalSeconds;
            if (k == 0) continue;
            first.Add(firstSeconds);
            for (int c = 0; c < clickCount; c++)
            {
                points.Add(RandomPoint(random, source));
                watch.Restart();
                double serverMs = await Match(client, source, target, points);
                clickRoundTrip.Add(watch.Elapsed.TotalMilliseconds);
                clickServer.Add(serverMs);
            }
        }
        await app.StopAsync();
        string F(double v) => v.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture);
        var table = new Table().AddColumn("request").AddColumn(new TableColumn("median").RightAligned()).AddColumn(new TableColumn("p95").RightAligned()).AddColumn(new TableColumn("max").RightAligned());
        table.AddRow("first match of two new images (ms, both uploads + match)", F(1000 * BenchCommand.Median(first)), F(1000 * BenchCommand.Percentile(first, 0.95)), F(1000 * first.Max()));
        table.AddRow("further click: server time (ms)", F(BenchCommand.Median(clickServer)), F(BenchCommand.Percentile(clickServer, 0.95)), F(clickServer.Max()));
        table.AddRow("further click: round trip (ms)", F(BenchCommand.Median(clickRoundTrip)), F(BenchCommand.Percentile(clickRoundTrip, 0.95)), F(clickRoundTrip.Max()));
        AnsiConsole.Write(table);
        if (jsonPath is not null)
            JsonOptions.WriteFile(jsonPath, new
            {
                pairs = first.Count,
                clicks_per_pair = clickCount,
                first_match_s_median = BenchCommand.Median(first),
                first_match_s_p95 = BenchCommand.Percentile(first, 0.95),
                click_server_ms_median = BenchCommand.Median(clickServer),
                click_server_ms_p95 = BenchCommand.Percentile(clickServer, 0.95),
                click_round_trip_ms_median = BenchCommand.Median(clickRoundTrip),
                click_round_trip_ms_p95 = BenchCommand.Percentile(clickRoundTrip, 0.95),
            });
        return 0;
    }

    private static double[] RandomPoint(Random random, JsonElement image) =>
        [Math.Round(random.NextDouble() * (image.GetProperty("width").GetInt32() - 1), 1), Math.Round(random.NextDouble() * (image.GetProperty("height").GetInt32() - 1), 1)];

    private static async Task<JsonElement> Upload(HttpClient client, string path)
    {
        using var form = new MultipartFormDataContent();
        var content = new ByteArrayContent(await File.ReadAllBytesAsync(path));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(content, "file", Path.GetFileName(path));
        var response = await client.PostAsync("/api/images", form);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
        if (!response.IsSuccessStatusCode) throw new HyperpixelFlowException($"{path}: upload refused: {body}");
        return body;
    }

    private static async Task<double> Match(HttpClient client, JsonElement source, JsonElement target, List<double[]> points)
    {
        string json = JsonSerializer.Serialize(new { source = source.GetProperty("id").GetString(), target = target.GetProperty("id").GetString(), points });
        var response = await client.PostAsync("/api/match", new StringContent(json, Encoding.UTF8, "application/json"));
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        if (!response.IsSuccessStatusCode) throw new HyperpixelFlowException($"match refused: {body}");
        return body.GetProperty("server_ms").GetDouble();
    }
}
