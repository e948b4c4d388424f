using HyperpixelFlow.Fuzz;

namespace HyperpixelFlow.Tests;

/// <summary>The parsers of untrusted files against the fuzzer: its committed seeds parse, every input it once broke a parser with is now refused clearly, and a short campaign finds nothing.</summary>
public class FuzzTests
{
    public static TheoryData<string> Targets() => [.. FuzzTarget.All.Select(t => t.Name)];

    [Theory]
    [MemberData(nameof(Targets))]
    public void Every_committed_seed_is_read_and_every_regression_input_refused_with_a_clear_error(string name)
    {
        var target = FuzzTarget.Get(name);
        string folder = Seeds.Folder(target);
        Assert.NotEmpty(Directory.GetFiles(folder));
        foreach (var seed in Directory.GetFiles(folder))
        {
            var (outcome, finding) = Fuzzer.Check(target, seed);
            Assert.Null(finding);
            Assert.Equal("accepted", outcome);
        }
        foreach (var input in Seeds.Regressions(target))
        {
            var (outcome, finding) = Fuzzer.Check(target, input);
            Assert.True(finding is null, $"{Path.GetFileName(input)}: {finding?.Message}");
            Assert.StartsWith("refused: ", outcome);
        }
    }

    [Fact]
    public void The_regressions_are_refused_for_their_reason()
    {
        string Refusal(string target, string file)
        {
            var path = Seeds.Regressions(FuzzTarget.Get(target)).Single(p => Path.GetFileName(p) == file);
            return Assert.ThrowsAny<HyperpixelFlowException>(() => FuzzTarget.Get(target).Parse(path)).Message;
        }
        Assert.Contains("'posix.system'", Refusal("pth", "forbidden-global.pth"));
        Assert.Contains("declares 1099511627776 elements", Refusal("pth", "storage-larger-than-its-entry.pth"));
        Assert.Contains("runs past its storage", Refusal("pth", "tensor-past-its-storage.pth"));
        Assert.Contains("zip archive", Refusal("pth", "damaged-central-directory.pth"));
        Assert.Contains("JSON", Refusal("safetensors", "invalid-utf8-header.safetensors"));
        Assert.Contains("MAT-file", Refusal("mat", "damaged-zlib-stream.mat"));
        Assert.Contains("without its key, features or coefficients", Refusal("calibration", "null-features.json"));
    }

    [Trait("Category", TestCategory.System)]
    [Fact]
    public void A_short_campaign_on_every_parser_finds_no_crash_hang_or_runaway_allocation()
    {
        string work = TestFolders.Create("fuzz");
        try
        {
            foreach (var target in FuzzTarget.All)
            {
                var report = new Fuzzer(target, Path.Combine(work, target.Name), seed: Environment.TickCount).Run(Seeds.Read(target), TimeSpan.FromSeconds(6));
                Assert.True(report.Findings.Count == 0,
                    $"{target.Name}: " + string.Join("\n", report.Findings.Select(f => $"{f.Kind}: {f.Message} (input kept at {f.InputPath})")));
                Assert.True(report.Cases > 100, $"{target.Name}: only {report.Cases} cases ran");
            }
        }
        finally { TestFolders.Delete(work); }
    }
}
