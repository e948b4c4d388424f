using System.Diagnostics;
using System.Text.Json;
using HyperpixelFlow.Imaging;
using HyperpixelFlow.Visualization;

namespace HyperpixelFlow.Tests;

/// <summary>Runs the real <c>hpf</c> program (copied beside the tests) as a user would.</summary>
[Trait("Category", TestCategory.System)]
public class CliTests
{
    internal static (int ExitCode, string Stdout, string Stderr) Hpf(params string[] args) =>
        Processes.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "hpf.dll"), .. args]);

    private static readonly Lazy<(string Source, string Target, string Dir)> Demo = new(() =>
    {
        var dir = TestFolders.Create("cli");
        var (s, t) = TestImages.WritePair(dir, "a.png", "b.png", 160, 120);
        return (s, t, dir);
    });

    private static void AssertCleanError((int ExitCode, string Stdout, string Stderr) run, string expected)
    {
        Assert.Equal(2, run.ExitCode);
        var line = Assert.Single(run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: ", line);
        Assert.Contains(expected, line);
        Assert.DoesNotContain("   at ", run.Stderr + run.Stdout);
    }

    [Fact]
    public void Backbones_export_writes_the_bundled_weights_so_that_they_load_back_equal()
    {
        using var dir = TestFolders.Scoped("export");
        string file = Path.Combine(dir.Path, "resnet18-cntk.safetensors");
        var run = Hpf("backbones", "resnet18-cntk", "--export-weights", file);
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.False(File.Exists(file + ".part"));
        var spec = Backbones.BackboneRegistry.Get("resnet18-cntk");
        using var bundled = Backbones.BackboneRegistry.ImportBundled(spec, Backbones.BackboneRegistry.BundledWeightsPath);
        using var exported = new Backbones.ResNet(spec.Architecture);
        Backbones.WeightFiles.LoadInto(exported, file);
        var expected = bundled.state_dict();
        var actual = exported.state_dict();
        Assert.Equal(expected.Keys.OrderBy(k => k), actual.Keys.OrderBy(k => k));
        foreach (var (name, tensor) in expected)
            Assert.True(tensor.equal(actual[name]).all().item<bool>(), $"{name} differs after the round trip");

        AssertCleanError(Hpf("backbones", "resnet18-cntk", "--export-weights", Path.Combine(dir.Path, "w.pth")), "ending in .safetensors");
        AssertCleanError(Hpf("backbones", "dinov2-vits14", "--export-weights", Path.Combine(dir.Path, "w.safetensors")), "no bundled weights");
        AssertCleanError(Hpf("backbones", "--export-weights", Path.Combine(dir.Path, "w.safetensors")), "needs a backbone NAME");
    }

    [SkippableFact]
    public void Bench_writes_the_figures_of_both_pipelines_as_json()
    {
        using var dir = TestFolders.Scoped("bench");
        string json = Path.Combine(dir.Path, "bench.json");
        // The other precision: bf16 where the CPU has it, else fp32 against itself (the plumbing, not the speed).
        string versus = Backbones.BackbonePrecision.CpuHasBFloat16 ? "bf16" : "fp32";
        var run = Hpf("bench", "--datapath", SharedData.PfWillow, "--pairs", "2", "--repeat", "1", "--baseline", "--json", json, "--versus-precision", versus);
        Assert.True(run.ExitCode == 0, run.Stderr);
        var figures = JsonDocument.Parse(File.ReadAllText(json)).RootElement;
        Assert.Equal(2, figures.GetProperty("pairs").GetInt32());
        foreach (var key in new[] { "cold_pair_s", "warm_pair_s", "peak_rss_mb", "eval_pairs_per_s", "baseline_cold_pair_s", "cold_speedup_vs_baseline" })
            Assert.True(figures.GetProperty(key).GetDouble() > 0, $"{key} = {figures.GetProperty(key)}");
        // A cold pair runs the backbone on both images on top of what a warm pair does (medians of two pairs on a shared
        // machine: only the order is asserted, not a margin).
        Assert.True(figures.GetProperty("cold_pair_s").GetDouble() > figures.GetProperty("warm_pair_s").GetDouble(),
            $"cold pair {figures.GetProperty("cold_pair_s")} s should cost more than the warm pair {figures.GetProperty("warm_pair_s")} s");
        foreach (var stage in new[] { "backbone", "similarity", "voting" })
            Assert.True(figures.GetProperty("baseline_stages_median_s").GetProperty(stage).GetDouble() > 0, stage);
        Assert.Contains("paper formulation", run.Stdout);
        // The backbone's work: two ResNet-18 passes over images of at most 300 px (about 5.5 GFLOP each at 300 x 225).
        Assert.InRange(figures.GetProperty("backbone_gflop_per_pair").GetDouble(), 2, 12);
        Assert.True(figures.GetProperty("backbone_gflops_per_s").GetDouble() > 0);
        var other = figures.GetProperty("versus_precision");
        foreach (var key in new[] { "cold_pair_s", "backbone_s", "other_cold_pair_s", "other_backbone_s" })
            Assert.True(other.GetProperty(key).GetDouble() > 0, $"versus {key}");
        Assert.Contains($"fp32 vs {versus}, alternating pair by pair", run.Stdout);
    }

    [Fact]
    public void Match_writes_json_with_points_in_original_pixels_and_pictures()
    {
        var (s, t, dir) = Demo.Value;
        string outDir = Path.Combine(dir, "out");
        var watch = Stopwatch.StartNew();
        var run = Hpf("match", s, t, "--points", "40,30;100.5,60", "--out", outDir, "--hyperpixel-matches");
        double wall = watch.Elapsed.TotalSeconds;
        Assert.True(run.ExitCode == 0, run.Stderr);
        var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "result.json"))).RootElement;
        var points = json.GetProperty("points").EnumerateArray().ToList();
        Assert.Equal(2, points.Count);
        Assert.Equal(100.5, points[1].GetProperty("source")[0].GetDouble());
        foreach (var p in points)
        {
            double x = p.GetProperty("target")[0].GetDouble(), y = p.GetProperty("target")[1].GetDouble();
            Assert.InRange(x, -50, 210);
            Assert.InRange(y, -50, 170);
            Assert.InRange(p.GetProperty("confidence").GetDouble(), 0, 1);
            Assert.InRange(p.GetProperty("cycle_error_px").GetDouble(), 0, 200);
            // One source stride: 4 px of the 336 px working side the 160 px image is enlarged to.
            Assert.Equal(p.GetProperty("cycle_error_px").GetDouble() <= 4 * 160.0 / 336, p.GetProperty("mutual").GetBoolean());
        }
        Assert.Equal(160, json.GetProperty("flow").GetProperty("width").GetInt32());
        var hyperpixels = json.GetProperty("hyperpixel_matches").GetProperty("matches");
        Assert.Equal(json.GetProperty("diagnostics").GetProperty("source_hyperpixels").GetInt32(), hyperpixels.GetArrayLength());
        Assert.Equal(6, hyperpixels[0].GetArrayLength());
        Assert.All(hyperpixels.EnumerateArray(), m => Assert.InRange(m[4].GetDouble(), 0, 1));
        Assert.Equal(160 * 120 * 2 * 4, new FileInfo(Path.Combine(outDir, "flow.bin")).Length);
        var timings = json.GetProperty("timings_s").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetDouble());
        Assert.Equal(new[] { "resize", "backbone", "hyperpixels", "similarity", "voting", "transfer", "flow" }, timings.Keys.ToArray());
        Assert.All(timings.Values, v => Assert.InRange(v, 0, wall));
        Assert.True(timings.Values.Sum() <= wall, $"stages sum to {timings.Values.Sum():0.000} s, the whole process took {wall:0.000} s");
        foreach (var picture in new[] { "matches.png", "flow.png", "warped.png" })
            Assert.True(new FileInfo(Path.Combine(outDir, picture)).Length > 1000, picture);
    }

    [Fact]
    public void Match_traces_its_phases_in_order_its_piped_output_is_whole_and_it_leaves_no_runtime_files()
    {
        var (s, t, dir) = Demo.Value;
        long launch = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;
        string temporary = Directory.CreateDirectory(Path.Combine(dir, "tmp")).FullName;
        var run = Processes.Run("dotnet", [Path.Combine(AppContext.BaseDirectory, "hpf.dll"), "match", s, t, "--points", "40,30", "--out", Path.Combine(dir, "traced")],
            environment: new Dictionary<string, string>
            {
                ["HPF_STARTUP_TRACE"] = launch.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["TMPDIR"] = temporary,
            });
        Assert.True(run.ExitCode == 0, run.Stderr);
        var marks = run.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => System.Text.RegularExpressions.Regex.Match(line, @"^startup: ([0-9.]+) ms (.+) \(compiled [0-9]+ methods in [0-9]+ ms\)$"))
            .Select(m => { Assert.True(m.Success, run.Stderr); return (Ms: double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), Phase: m.Groups[2].Value); })
            .ToList();
        Assert.Equal(["parsed", "decoded", "matcher ready", "matched", "written", "printed"], marks.Select(m => m.Phase));
        Assert.Equal(marks.Select(m => m.Ms).Order(), marks.Select(m => m.Ms));
        Assert.InRange(marks[0].Ms, 0, 60_000);
        // The process ends at once after the command (no native teardown): whatever it printed has still arrived, and the
        // runtime's debugger pipes and diagnostic socket are gone from the temporary folder as after a normal exit.
        Assert.Contains("matched 1 point,", run.Stdout);
        Assert.Contains("total", run.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^2]);
        Assert.Empty(Directory.EnumerateFileSystemEntries(temporary));

        var untraced = Hpf("match", s, t, "--points", "40,30", "--out", Path.Combine(dir, "untraced"));
        Assert.True(untraced.ExitCode == 0, untraced.Stderr);
        Assert.DoesNotContain("startup:", untraced.Stderr);
    }

    [Fact]
    public void Match_command_lands_on_the_true_points_of_the_synthetic_pair()
    {
        var (s, t, dir) = Demo.Value;
        var pair = SyntheticPairs.Create(160, 120);   // the pair behind Demo, with its true correspondences
        string outDir = Path.Combine(dir, "truth");
        var points = string.Join(";", pair.SourcePoints.Select(p => FormattableString.Invariant($"{p.X},{p.Y}")));
        var run = Hpf("match", s, t, "--points", points, "--out", outDir);
        Assert.True(run.ExitCode == 0, run.Stderr);
        var predicted = JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "result.json"))).RootElement.GetProperty("points").EnumerateArray()
            .Select(p => (X: p.GetProperty("target")[0].GetDouble(), Y: p.GetProperty("target")[1].GetDouble())).ToList();
        Assert.Equal(pair.TargetPoints.Count, predicted.Count);
        double threshold = 0.1 * 160;
        int correct = predicted.Zip(pair.TargetPoints).Count(z => Math.Sqrt(Math.Pow(z.First.X - z.Second.X, 2) + Math.Pow(z.First.Y - z.Second.Y, 2)) <= threshold);
        Assert.True(correct >= 0.8 * predicted.Count, $"{correct}/{predicted.Count} points within 0.1 x 160 px of the truth");
    }

    [Fact]
    public void Result_json_is_small_unless_hyperpixel_matches_are_asked_for()
    {
        var (s, t, dir) = Demo.Value;
        string outDir = Path.Combine(dir, "small");
        var run = Hpf("match", s, t, "--points", "40,30;100,60;20,20", "--out", outDir);
        Assert.True(run.ExitCode == 0, run.Stderr);
        var path = Path.Combine(outDir, "result.json");
        Assert.False(JsonDocument.Parse(File.ReadAllText(path)).RootElement.TryGetProperty("hyperpixel_matches", out _));
        Assert.True(new FileInfo(path).Length < 8_000, $"result.json is {new FileInfo(path).Length} bytes for 3 points");
        Assert.Contains("matched 3 points", run.Stdout);
        Assert.Contains("P(right)", run.Stdout);
        Assert.Matches(@"expected right: \d+\.\d of 3 points", run.Stdout);
        // Redirected output is not wrapped at 80 columns: the summary line keeps the whole path.
        Assert.Contains($"-> {Path.GetFullPath(outDir)}\n", run.Stdout.Replace("\r", ""));
    }

    /// <summary>Bad options of <c>hpf match</c> on a good pair, and what the one-line error must say.</summary>
    public static TheoryData<string[], string> BadMatchOptions => new()
    {
        { ["--points", "10,10;500,20"], "outside the source image" },
        { ["--points", "NaN,3"], "not a finite number" },
        { ["--points", "10;20"], "is not a point" },
        { ["--layers", "2,4,99"], "valid ids are 0..9" },
        { ["--layers", "2,x"], "'x' is not a layer id" },
        { ["--layers", "4,4"], "layer ids repeat" },
        { ["--hyperpixel-stride", "64"], "their strides are 4,8,16,32" },
        { ["--hyperpixel-stride", "-8"], "the hyperpixel stride must be >= 0" },
        { ["--target-stride", "64"], "their strides are 4,8,16,32" },
        { ["--target-stride", "-8"], "the target hyperpixel stride must be >= 0" },
        { ["--backbone", "vgg"], "unknown backbone 'vgg'" },
        { ["--backbone", "resnet50"], "no bundled weights" },
        { ["--max-side", "x"], "as expected type a whole number" },
        { ["--bogus"], "Unrecognized command or argument '--bogus'" },
        { ["--device", "banana"], "device 'banana' is not cpu, cuda or cuda:N" },
        { ["--device", "cuda"], "no CUDA here" },
        { ["--matching", "banana"], "unknown matching step 'banana'; known: rhm, ot" },
        { ["--preset", "banana"], "unknown preset 'banana'" },
        { ["--ot-epsilon", "0"], "OT epsilon must be a positive number" },
        { ["--scales", "1,-2"], "--scales: '-2' is not a positive number" },
    };

    [Theory]
    [MemberData(nameof(BadMatchOptions))]
    public void Bad_match_options_give_one_line_errors_and_exit_code_2(string[] options, string expected)
    {
        var (s, t, _) = Demo.Value;
        AssertCleanError(Hpf(["match", s, t, .. options]), expected);
    }

    [Fact]
    public void Bad_transfer_shard_and_merge_inputs_give_one_line_errors_and_exit_code_2()
    {
        var (s, t, dir) = Demo.Value;
        string notResults = Path.Combine(dir, "not-results.jsonl");
        File.WriteAllText(notResults, "{\"a\": 1}\n");
        AssertCleanError(Hpf("transfer", "--exemplar", s, "--points", "1,1"), "--exemplar needs --targets");
        AssertCleanError(Hpf("transfer", "--exemplar", s, "--points", "9999,1", "--targets", dir), "lies outside the source image");
        AssertCleanError(Hpf("transfer", "--exemplar", s, "--targets", dir), "needs its points");
        string binary = Path.Combine(dir, "targets.bin");
        File.WriteAllBytes(binary, File.ReadAllBytes(s));
        AssertCleanError(Hpf("transfer", "--exemplar", s, "--points", "1,1", "--targets", binary), "is not a text file listing images");
        AssertCleanError(Hpf("transfer", "--exemplar", s, "--points", "1,1", "--names", "a,b", "--targets", dir), "2 names for 1 points");
        AssertCleanError(Hpf("transfer", "--exemplar", s, "--points", "1,1", "--targets", Path.Combine(dir, "nowhere")), "neither a folder, an image nor a list file");
        AssertCleanError(Hpf("transfer", "--pairs", Path.Combine(dir, "nope.csv"), "--points", "1,1"), "file not found");
        AssertCleanError(Hpf("transfer", "--exemplar", s, "--points", "1,1", "--targets", dir, "--shard", "3/2"), "is not K/N");
        AssertCleanError(Hpf("merge", Path.Combine(dir, "nope.jsonl"), "--out", Path.Combine(dir, "m.jsonl")), "file not found");
        AssertCleanError(Hpf("merge", notResults, "--out", Path.Combine(dir, "m.jsonl")), "not a results file");
        AssertCleanError(Hpf("merge", notResults, "--out", notResults), "is one of the inputs");
    }

    [Fact]
    public void Bad_inputs_give_one_line_errors_and_exit_code_2()
    {
        var (s, t, dir) = Demo.Value;
        string text = Path.Combine(dir, "text.png");
        File.WriteAllText(text, "not an image");
        AssertCleanError(Hpf("match", Path.Combine(dir, "nope.png"), t), "file not found");
        AssertCleanError(Hpf("match", text, t), "not a readable image");
        // Empty values (a script's unset variable) are errors, never a silent default.
        foreach (var option in new[] { "--points", "--layers", "--backbone", "--device", "--scales", "--matching", "--preset", "--out" })
            AssertCleanError(Hpf("match", s, t, option, ""), $"{option}: empty value");
        string textWeights = Path.Combine(dir, "weights.pth");
        File.WriteAllText(textWeights, "not weights");
        AssertCleanError(Hpf("match", s, t, "--backbone", "resnet18", "--weights", textWeights), "not a PyTorch checkpoint");
        // A bad output folder is reported before any work: before even the (missing) source image is read.
        File.WriteAllText(Path.Combine(dir, "a-file"), "");
        AssertCleanError(Hpf("match", Path.Combine(dir, "missing.png"), t, "--out", Path.Combine(dir, "a-file", "out")), "cannot write the output folder");
        AssertCleanError(Hpf("match", s, t, "--margin-pruning", "true", "--no-margin-pruning"), "contradict");
    }
}
