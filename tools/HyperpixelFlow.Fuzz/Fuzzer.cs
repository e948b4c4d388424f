using System.Diagnostics;
using System.Text;

namespace HyperpixelFlow.Fuzz;

/// <summary>One input that broke a rule: a crash (an exception other than the parser's clear error), a hang (longer than its
/// time bound), or an allocation far beyond the file's size. Its input is saved under the findings folder.</summary>
public sealed record Finding(string Target, string Kind, string Message, string InputPath);

/// <summary>What a run of one target did.</summary>
public sealed record FuzzReport(string Target, long Cases, int Outcomes, int Corpus, double Seconds, IReadOnlyList<Finding> Findings);

/// <summary>
/// Structured mutation of valid seeds, guided by outcomes: each case takes an input of the corpus, applies one to four
/// mutations (bit and byte flips, boundary integers written over 1, 2, 4 or 8 bytes, cuts, duplicated or removed runs,
/// splices of two inputs; for text formats also digits turned into huge or negative numbers and deleted delimiters),
/// writes it to a file and hands the file to the parser. An input whose outcome (accepted, or the kind of refusal with
/// its numbers taken out) was not seen before joins the corpus, so later cases start from inputs that reach further
/// into the parser. Every case must end in acceptance or a <see cref="HyperpixelFlowException"/>, within
/// <see cref="TimeBound"/>, allocating at most <see cref="AllocationBound"/>.
/// </summary>
public sealed class Fuzzer(FuzzTarget target, string workFolder, int seed)
{
    private readonly Random _random = new(seed);
    private readonly List<byte[]> _corpus = [];
    private readonly HashSet<string> _outcomes = [];
    private readonly HashSet<string> _findingKinds = [];

    /// <summary>Time a case may take: a second plus a millisecond per kilobyte (the seeds run once before, untimed, to compile the parser).</summary>
    public static TimeSpan TimeBound(long bytes) => TimeSpan.FromMilliseconds(1000 + bytes / 1024.0);

    /// <summary>Managed bytes a case may allocate: 64 MB plus 32 times the file.</summary>
    public static long AllocationBound(long bytes) => (64L << 20) + 32 * bytes;

    public FuzzReport Run(IEnumerable<byte[]> seeds, TimeSpan budget, long? maxCases = null)
    {
        Directory.CreateDirectory(workFolder);
        _corpus.AddRange(seeds);
        if (_corpus.Count == 0) throw new InvalidOperationException($"no seeds for {target.Name}");
        var findings = new List<Finding>();
        var watch = Stopwatch.StartNew();
        long cases = 0;
        string input = Path.Combine(workFolder, "input" + target.Extension);
        // The seeds themselves first, twice (the first pass compiles the parser): each must parse, or the target's seeds are stale.
        foreach (var s in _corpus.ToList())
        {
            File.WriteAllBytes(input, s);
            target.Parse(input);
            var (outcome, finding) = RunOne(input, s.Length);
            if (finding is not null || outcome != "accepted")
                throw new InvalidOperationException($"a seed of {target.Name} does not parse: {finding?.Message ?? outcome}");
            _outcomes.Add(outcome);
        }
        while (watch.Elapsed < budget && (maxCases is null || cases < maxCases))
        {
            var data = Mutate(_corpus[_random.Next(_corpus.Count)]);
            File.WriteAllBytes(input, data);
            cases++;
            var (outcome, finding) = RunOne(input, data.Length);
            if (finding is not null)
            {
                // One saved input per kind of finding (its message without numbers): a bug found a thousand times is one bug.
                if (_findingKinds.Add(finding.Kind + ": " + Stem(finding.Message.Split('\n')[0], input)))
                {
                    string saved = Path.Combine(workFolder, $"{target.Name}-{finding.Kind}-{findings.Count + 1}{target.Extension}");
                    File.Copy(input, saved, overwrite: true);
                    findings.Add(finding with { InputPath = saved });
                }
                if (finding.Kind == "hang") break;   // the hung case still runs on its thread
                continue;
            }
            if (_outcomes.Add(outcome) && _corpus.Count < 512) _corpus.Add(data);
        }
        File.Delete(input);
        return new FuzzReport(target.Name, cases, _outcomes.Count, _corpus.Count, watch.Elapsed.TotalSeconds, findings);
    }

    private (string Outcome, Finding? Finding) RunOne(string path, long bytes) => Check(target, path, bytes);

    /// <summary>Parses one file on its own thread: its outcome ("accepted", or "refused: " and the kind of refusal), or what rule it broke.</summary>
    public static (string Outcome, Finding? Finding) Check(FuzzTarget target, string path) => Check(target, path, new FileInfo(path).Length);

    private static (string Outcome, Finding? Finding) Check(FuzzTarget target, string path, long bytes)
    {
        string outcome = "";
        Exception? failure = null;
        long allocated = 0;
        var thread = new Thread(() =>
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            try
            {
                target.Parse(path);
                outcome = "accepted";
            }
            catch (HyperpixelFlowException e) { outcome = "refused: " + Stem(e.Message, path); }
            catch (Exception e) { failure = e; }
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        }, maxStackSize: 16 << 20) { IsBackground = true };
        thread.Start();
        if (!thread.Join(TimeBound(bytes)))
            return ("", new Finding(target.Name, "hang", $"no answer within {TimeBound(bytes).TotalMilliseconds:0} ms", path));
        if (failure is not null)
            return ("", new Finding(target.Name, "crash", $"{failure.GetType().Name}: {failure.Message}\n{failure.StackTrace}", path));
        if (allocated > AllocationBound(bytes))
            return ("", new Finding(target.Name, "allocation", $"{allocated >> 20} MB allocated for a {bytes}-byte file", path));
        return (outcome, null);
    }

    /// <summary>A refusal's kind: its message without the file's path, numbers and quoted values.</summary>
    private static string Stem(string message, string path)
    {
        var text = message.Replace(path, "FILE");
        text = System.Text.RegularExpressions.Regex.Replace(text, @"'[^']*'|""[^""]*""|\d+", "#");
        return text.Length > 100 ? text[..100] : text;
    }

    private static readonly long[] Boundaries = [0, 1, -1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, int.MaxValue, int.MinValue, uint.MaxValue, long.MaxValue, long.MinValue, 1L << 32, 1L << 40];

    private byte[] Mutate(byte[] original)
    {
        var data = new List<byte>(original);
        int rounds = 1 + _random.Next(4);
        for (int r = 0; r < rounds; r++)
        {
            if (data.Count == 0) { data.Add((byte)_random.Next(256)); continue; }
            int at = _random.Next(data.Count);
            switch (_random.Next(target.Text ? 11 : 9))
            {
                case 0: data[at] ^= (byte)(1 << _random.Next(8)); break;
                case 1: data[at] = (byte)_random.Next(256); break;
                case 2:
                    {
                        int width = new[] { 1, 2, 4, 8 }[_random.Next(4)];
                        long value = Boundaries[_random.Next(Boundaries.Length)];
                        for (int k = 0; k < width && at + k < data.Count; k++) data[at + k] = (byte)(value >> (8 * k));
                        break;
                    }
                case 3: data.RemoveRange(at, Math.Min(data.Count - at, 1 + _random.Next(Math.Min(64, data.Count)))); break;
                case 4:
                    {
                        int length = Math.Min(data.Count - at, 1 + _random.Next(64));
                        data.InsertRange(_random.Next(data.Count + 1), data.GetRange(at, length));
                        break;
                    }
                case 5:
                    {
                        // A long run removed: up to a quarter of the input.
                        int length = Math.Min(data.Count - at, 1 + _random.Next(Math.Max(1, data.Count / 4)));
                        data.RemoveRange(at, length);
                        break;
                    }
                case 6: data.InsertRange(at, Enumerable.Range(0, 1 + _random.Next(16)).Select(_ => (byte)_random.Next(256))); break;
                case 7:
                    {
                        var other = _corpus[_random.Next(_corpus.Count)];
                        int from = _random.Next(other.Length);
                        data.RemoveRange(at, data.Count - at);
                        data.AddRange(other.Skip(from));
                        break;
                    }
                case 8: data.RemoveRange(at, data.Count - at); break;   // cut short
                case 9:
                    {
                        // A number in a text format becomes a huge, negative or fractional one.
                        var text = Encoding.UTF8.GetString(data.ToArray());
                        var match = System.Text.RegularExpressions.Regex.Matches(text, @"-?\d+(\.\d+)?");
                        if (match.Count == 0) break;
                        var m = match[_random.Next(match.Count)];
                        string[] replacements = ["99999999999999999999", "-1", "1e308", "0", "NaN", "2147483648", "-0.5", "1e-320", ""];
                        text = text[..m.Index] + replacements[_random.Next(replacements.Length)] + text[(m.Index + m.Length)..];
                        data = [.. Encoding.UTF8.GetBytes(text)];
                        break;
                    }
                default:
                    {
                        // A delimiter or bracket of a text format is removed or doubled.
                        int index = data.FindIndex(at, b => b is (byte)',' or (byte)'"' or (byte)'[' or (byte)']' or (byte)'{' or (byte)'}' or (byte)'\n' or (byte)':');
                        if (index < 0) break;
                        if (_random.Next(2) == 0) data.RemoveAt(index); else data.Insert(index, data[index]);
                        break;
                    }
            }
        }
        return [.. data];
    }
}
