using System.Text;
using System.Text.Json;

namespace HyperpixelFlow.Evaluation;

/// <summary>A line of a results log: one finished item of the work list, by its index in the whole list.</summary>
internal interface ILoggedItem
{
    /// <summary>0-based index of the item in the whole work list (not in a shard).</summary>
    int Index { get; }
}

/// <summary>
/// Line 1 of a results log: what kind of run (<c>evaluation</c>, <c>transfer</c>), its settings, which shard of the
/// work list it covers and how long the whole list is. Shards of one run differ only in <see cref="Shard"/>.
/// </summary>
internal sealed record LogHeader<TSettings>(string Kind, TSettings Settings, string Shard, int Items) where TSettings : RunSettings;

/// <summary>
/// JSON-lines results file: line 1 the <see cref="LogHeader{TSettings}"/>, every further line one finished item,
/// flushed to disk as it is written. Reopening with an equal header resumes: finished items are read back and
/// skipped; a half-written last line (the process was killed mid-write) is cut off. Any difference of settings,
/// shard or list length is refused, naming it: results of different runs never mix.
/// </summary>
internal sealed class ResultsLog<TSettings, TItem> : IDisposable where TSettings : RunSettings where TItem : ILoggedItem
{
    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,   // absent = null: lines stay short
    };
    private readonly FileStream _stream;

    public IReadOnlyList<TItem> Existing { get; }
    public string Path { get; }

    private ResultsLog(string path, FileStream stream, List<TItem> existing)
    {
        Path = path;
        _stream = stream;
        Existing = existing;
    }

    public static ResultsLog<TSettings, TItem> Open(string path, LogHeader<TSettings> header, bool restart = false)
    {
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
        if (directory is not null) Directory.CreateDirectory(directory);
        var existing = new List<TItem>();
        long keep = 0;
        if (File.Exists(path) && !restart)
        {
            (var found, existing, keep) = ReadAll(path);
            var differences = Differences(header, found);
            if (differences.Count > 0)
                throw new HyperpixelFlowException(
                    $"{path} holds results of another run (now vs file: {string.Join("; ", differences)}); pass another results file or restart it");
        }
        var stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.Read);
        stream.SetLength(keep);
        stream.Seek(0, SeekOrigin.End);
        var log = new ResultsLog<TSettings, TItem>(path, stream, existing);
        if (keep == 0) log.WriteLine(header);
        return log;
    }

    /// <summary>What differs between two headers, ignoring the shard when <paramref name="exceptShard"/> (shards of one run).</summary>
    public static IReadOnlyList<string> Differences(LogHeader<TSettings> mine, LogHeader<TSettings> theirs, bool exceptShard = false)
    {
        var differences = new List<string>();
        if (mine.Kind != theirs.Kind) differences.Add($"kind: {mine.Kind} vs {theirs.Kind}");
        else differences.AddRange(mine.Settings.Differences(theirs.Settings));
        if (!exceptShard && mine.Shard != theirs.Shard) differences.Add($"shard: {mine.Shard} vs {theirs.Shard}");
        if (mine.Items != theirs.Items) differences.Add($"items in the work list: {mine.Items} vs {theirs.Items}");
        return differences;
    }

    /// <summary>The header and every complete line of a results file, and the byte length they take.</summary>
    public static (LogHeader<TSettings> Header, List<TItem> Items, long Length) ReadAll(string path)
    {
        if (!File.Exists(path)) throw new HyperpixelFlowException($"{path}: file not found");
        var bytes = File.ReadAllBytes(path);
        LogHeader<TSettings>? header = null;
        var items = new List<TItem>();
        int lineStart = 0, lineNumber = 0;
        long keep = 0;
        while (lineStart < bytes.Length)
        {
            int end = Array.IndexOf(bytes, (byte)'\n', lineStart);
            if (end < 0) break; // unterminated last line: an interrupted write
            var line = Encoding.UTF8.GetString(bytes, lineStart, end - lineStart);
            lineNumber++;
            if (lineNumber == 1)
            {
                header = Parse<LogHeader<TSettings>>(line, path, lineNumber);
                if (header?.Settings is null || header.Kind is null || header.Shard is null)
                    throw new HyperpixelFlowException($"{path} holds results without a settings record this version can compare; pass another results file or restart it");
            }
            else items.Add(Parse<TItem>(line, path, lineNumber)!);
            lineStart = end + 1;
            keep = lineStart;
        }
        if (header is null) throw new HyperpixelFlowException($"{path} is empty: not a results file");
        return (header, items, keep);
    }

    public void Append(TItem item) => WriteLine(item);

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
}

/// <summary>Numbers as results files and result.json write them.</summary>
internal static class JsonNumbers
{
    /// <summary>A value rounded for JSON; null where it is not known (NaN: e.g. no calibration for the settings).</summary>
    public static double? Rounded(double value, int digits) => double.IsFinite(value) ? Math.Round(value, digits) : null;
}
