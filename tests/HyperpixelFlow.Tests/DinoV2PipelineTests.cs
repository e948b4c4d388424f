using System.Net;
using System.Text.Json;
using HyperpixelFlow.Backbones;
using HyperpixelFlow.Flow;
using static HyperpixelFlow.Tests.CliTests;

namespace HyperpixelFlow.Tests;

/// <summary>A folder with a random-weight DINOv2 ViT-S/14 checkpoint and a synthetic pair, made once for the tests that use it.</summary>
public sealed class DinoV2Files : IDisposable
{
    public DinoV2Files()
    {
        Dir = TestFolders.Create("dinov2-pipeline");
        Checkpoint = DinoV2Checkpoints.Write(DinoV2Architecture.Sizes[0], Dir).Official;
        (Source, Target) = TestImages.WritePair(Dir, "a.png", "b.png", 200, 150, seed: 3);
    }

    public string Dir { get; }
    public string Checkpoint { get; }
    public string Source { get; }
    public string Target { get; }

    /// <summary>The options every run here shares: the ViT with its file, at a working side of 16 patches.</summary>
    public string[] Backbone => ["--backbone", "dinov2-vits14", "--weights", Checkpoint, "--max-side", "224"];

    public void Dispose() => TestFolders.Delete(Dir);
}

/// <summary>The whole pipeline (match, evaluate, transfer, the page's API) runs with a DINOv2 backbone.</summary>
[Trait("Category", TestCategory.System)]
public class DinoV2PipelineTests(DinoV2Files files) : IClassFixture<DinoV2Files>
{
    [Fact]
    public void Match_and_transfer_run_with_a_dinov2_backbone()
    {
        string output = Path.Combine(files.Dir, "match");
        var match = Hpf(["match", files.Source, files.Target, "--out", output, .. files.Backbone]);
        Assert.True(match.ExitCode == 0, match.Stderr);
        var result = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "result.json"))).RootElement;
        Assert.Equal("dinov2-vits14", result.GetProperty("backbone").GetString());
        Assert.Equal([11], result.GetProperty("layers").EnumerateArray().Select(l => l.GetInt32()));
        var points = result.GetProperty("points").EnumerateArray().ToList();
        Assert.Equal(64, points.Count);
        Assert.All(points, p =>
        {
            var target = p.GetProperty("target");
            Assert.InRange(target[0].GetDouble(), 0, 199);
            Assert.InRange(target[1].GetDouble(), 0, 149);
        });
        Assert.True(File.Exists(Path.Combine(output, "flow.png")));

        string lines = Path.Combine(files.Dir, "transfer.jsonl");
        var transfer = Hpf(["transfer", "--exemplar", files.Source, "--points", "60,60;120,90", "--targets", files.Target, "--out", lines, .. files.Backbone]);
        Assert.True(transfer.ExitCode == 0, transfer.Stderr);
        var record = File.ReadLines(lines).Select(l => JsonDocument.Parse(l).RootElement).Single(r => r.TryGetProperty("points", out _));
        Assert.Equal(2, record.GetProperty("points").GetArrayLength());
    }

    [Fact]
    public void A_calibration_fitted_for_these_weights_and_settings_gives_confidences_and_another_is_refused()
    {
        var options = new HyperpixelFlowOptions() with
        {
            Image = new() { MaxSide = 224 },
            Hyperpixels = new() { Backbone = "dinov2-vits14", WeightsPath = files.Checkpoint },
        };
        string key;
        using (var plain = new HyperpixelMatcher(options))
        {
            Assert.False(plain.HasCalibratedConfidence);
            key = plain.CalibrationKey;
        }
        Assert.Contains($"weights=sha256:{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(files.Checkpoint)))[..16]}", key);
        // A calibration for exactly this setting (the shipped default's model under this key: what hpf calibrate --out writes).
        var shipped = Calibration.ConfidenceCalibration.For(Calibration.ConfidenceCalibration.KeyOf(BackboneRegistry.DefaultName, [1, 2, 4, 5, 6, 8], new HyperpixelFlowOptions()))!;
        string mine = Path.Combine(files.Dir, "mine.json"), other = Path.Combine(files.Dir, "other.json");
        (shipped with { Key = key }).Write(mine);
        shipped.Write(other);
        using (var calibrated = new HyperpixelMatcher(options with { Runtime = new() { CalibrationPath = mine } }))
        {
            Assert.True(calibrated.HasCalibratedConfidence);
            var result = calibrated.Match(files.Source, files.Target, [new Point2(60, 60), new Point2(120, 90)]);
            Assert.All(result.Points, p => Assert.InRange(p.Confidence, 1e-6, 1 - 1e-6));
        }
        var refused = Assert.Throws<HyperpixelFlowException>(() => new HyperpixelMatcher(options with { Runtime = new() { CalibrationPath = other } }));
        Assert.Contains("was fitted for other settings (backbone=resnet18-cntk; weights=bundled", refused.Message);
        var cli = Hpf(["match", files.Source, files.Target, "--points", "60,60", "--out", Path.Combine(files.Dir, "calibrated"), "--calibration", other, .. files.Backbone]);
        Assert.Equal(2, cli.ExitCode);
        Assert.Contains("was fitted for other settings", cli.Stderr);
    }

    [Fact]
    [Trait("Category", TestCategory.Data)]
    public void Evaluate_runs_with_a_dinov2_backbone_and_keeps_its_results_apart()
    {
        string results = Path.Combine(files.Dir, "spair.jsonl");
        var run = Hpf(["evaluate", "--dataset", "spair", "--datapath", SharedData.SpairSample, "--results", results, .. files.Backbone]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("dinov2-vits14 layers 11", run.Stdout);
        Assert.Contains("PCK@0.1", run.Stdout);
        var other = Hpf(["evaluate", "--dataset", "spair", "--datapath", SharedData.SpairSample, "--results", results,
            "--backbone", "dinov2-vits14", "--weights", files.Checkpoint, "--max-side", "252"]);
        Assert.Equal(2, other.ExitCode);
        Assert.Contains("holds results of another run", other.Stderr);
        // Without --max-side a DINOv2 backbone runs at its own working side, 32 patches, enlarging smaller images.
        var own = Hpf(["evaluate", "--dataset", "spair", "--datapath", SharedData.SpairSample, "--limit", "1",
            "--results", Path.Combine(files.Dir, "spair-448.jsonl"), "--backbone", "dinov2-vits14", "--weights", files.Checkpoint]);
        Assert.True(own.ExitCode == 0, own.Stderr);
        Assert.Contains("max side 448,", own.Stdout);
        Assert.Contains(", upscale", own.Stdout);
    }
}

/// <summary>The page's server started with a DINOv2 backbone answers matches with it.</summary>
public sealed class DinoV2Server() : HpfServer(Arguments())
{
    private static string[] Arguments()
    {
        string dir = TestFolders.Create("dinov2-server");
        return ["--backbone", "dinov2-vits14", "--weights", DinoV2Checkpoints.Write(DinoV2Architecture.Sizes[0], dir).Official, "--max-side", "224"];
    }
}

[Trait("Category", TestCategory.System)]
public class DinoV2PageTests(DinoV2Server server) : IClassFixture<DinoV2Server>
{
    [Fact]
    public async Task The_page_matches_with_a_dinov2_backbone()
    {
        var options = JsonDocument.Parse(await server.Client.GetStringAsync("/api/options")).RootElement;
        Assert.Equal("dinov2-vits14", options.GetProperty("backbone").GetString());
        string s = (await server.Upload(File.ReadAllBytes(server.SourcePath), "a.png")).Body.GetProperty("id").GetString()!;
        string t = (await server.Upload(File.ReadAllBytes(server.TargetPath), "b.png")).Body.GetProperty("id").GetString()!;
        var (status, body) = await server.Post("/api/match", JsonSerializer.Serialize(new { source = s, target = t, points = new[] { new[] { 60.0, 70.0 }, new[] { 200.0, 150.0 } } }));
        Assert.True(status == HttpStatusCode.OK, body.ToString());
        Assert.Equal(2, body.GetProperty("points").GetArrayLength());
        var (heatStatus, map) = await server.Post("/api/heatmap", JsonSerializer.Serialize(new { source = s, target = t, point = new[] { 120.0, 90.0 } }));
        Assert.True(heatStatus == HttpStatusCode.OK, map.ToString());
    }
}
