using HyperpixelFlow;
using HyperpixelFlow.Fuzz;

// Fuzzes the parsers of untrusted files: dotnet run --project tools/HyperpixelFlow.Fuzz -c Release -- [TARGET|all] [SECONDS] [--findings DIR] [--seed N]
// Exit code 0: no finding; 1: findings (their inputs saved under the findings folder); 2: bad arguments.
try
{
    var positional = args.Where((a, i) => !a.StartsWith("--", StringComparison.Ordinal) && (i == 0 || !args[i - 1].StartsWith("--", StringComparison.Ordinal))).ToList();
    string Option(string name, string fallback) => Array.IndexOf(args, name) is var k and >= 0 && k + 1 < args.Length ? args[k + 1] : fallback;
    string which = positional.ElementAtOrDefault(0) ?? "all";
    double seconds = double.Parse(positional.ElementAtOrDefault(1) ?? "60", System.Globalization.CultureInfo.InvariantCulture);
    string findings = Path.GetFullPath(Option("--findings", "fuzz-findings"));
    int seed = int.Parse(Option("--seed", "1"), System.Globalization.CultureInfo.InvariantCulture);
    var targets = which == "all" ? FuzzTarget.All : [FuzzTarget.Get(which)];
    if (args.Contains("--write-seeds"))
    {
        foreach (var target in targets) Seeds.Write(target);
        return 0;
    }
    int found = 0;
    foreach (var target in targets)
    {
        var report = new Fuzzer(target, Path.Combine(findings, target.Name), seed).Run(Seeds.Read(target), TimeSpan.FromSeconds(seconds));
        Console.WriteLine($"{report.Target,-12} {report.Cases,9} cases in {report.Seconds,6:0} s ({report.Cases / report.Seconds,7:0}/s), " +
            $"{report.Outcomes,4} distinct outcomes, corpus {report.Corpus,3}, findings {report.Findings.Count}");
        foreach (var f in report.Findings) Console.WriteLine($"  {f.Kind}: {f.Message.Split('\n')[0]} ({f.InputPath})");
        found += report.Findings.Count;
    }
    return found == 0 ? 0 : 1;
}
catch (Exception e) when (e is HyperpixelFlowException or FormatException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}
