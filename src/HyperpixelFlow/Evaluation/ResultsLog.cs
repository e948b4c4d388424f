using System.Text;
using System.Text.Json;

namespace HyperpixelFlow.Evaluation;

/// <summary>
/// JSON-lines results file: line 1 holds the settings, every further line one finished pair, flushed to disk as it is
/// written. Reopening with equal settings resumes: finished pairs are read back and skipped; a half-written last line
/// (the process was killed mid-write) is cut off.
/// </summary>
internal sealed class ResultsLog : IDisposable
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
    private readonly FileStream _stream;

    public IReadOnlyList<PairResult> Existing { get; }
    public string Path { get; }

    private ResultsLog(string path, FileStream stream, List<PairResult> existing)
    {
        Path = path;
        _stream = stream;
        Existing = existing;
    }

    public static ResultsLog Open(string path, EvaluationSettings settings, bool restart = false)
    {
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        var existing = new List<PairResult>();
        long keep = 0;
        if (File.Exists(path) && !restart)
        {
            var bytes = File.ReadAllBytes(path);
            int lineStart = 0, lineNumber = 0;
            while (lineStart < bytes.Length)
            {
                int end = Array.IndexOf(bytes, (byte)'\n', lineStart);
                if (end < 0) break; // unterminated last line: an interrupted write
                var line = Encoding.UTF8.GetString(bytes, lineStart, end - lineStart);
                lineNumber++;
                if (lineNumber == 1)
                {
                    var header = Parse<Header>(line, path, lineNumber);
                    if (header?.Settings?.Options is null || header.Settings.PairListHash is null)
                        throw new HyperpixelFlowException($"{path} holds results without a settings record this version can compare; pass another results file or restart it");
                    var differences = settings.Differences(header.Settings);
                    if (differences.Count > 0)
                        throw new HyperpixelFlowException(
                            $"{path} holds results for other settings (now vs file: {string.Join("; ", differences)}); pass another results file or restart it");
                }
                else existing.Add(Parse<PairResult>(line, path, lineNumber)!);
                lineStart = end + 1;
                keep = lineStart;
            }
        }
        var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.Read);
        stream.SetLength(keep);
        stream.Seek(0, SeekOrigin.End);
        var log = new ResultsLog(path, stream, existing);
        if (keep == 0) log.WriteLine(new Header(settings));
        return log;
    }

    public void Append(PairResult result) => WriteLine(result);

    private void WriteLine<T>(T value)
    {
        var bytes = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(value, Json) + "\n");
        _stream.Write(bytes);
        _stream.Flush(flushToDisk: true);
    }

    private static T? Parse<T>(string line, string path, int lineNumber)
    {
        try { return JsonSerializer.Deserialize<T>(line, Json); }
        catch (JsonException e) { throw new DatasetFormatException(path, lineNumber, $"unreadable results line ({e.Message.Split('.')[0]}); delete the file or pass --restart"); }
    }

    public void Dispose() => _stream.Dispose();

    private sealed record Header(EvaluationSettings Settings);
}
