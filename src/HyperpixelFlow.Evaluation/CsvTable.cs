namespace HyperpixelFlow.Evaluation;

/// <summary>
/// A small RFC 4180 CSV reader (quoted fields, doubled quotes) that keeps line numbers for error messages.
/// The benchmark lists are plain comma-separated files; this is all they need.
/// </summary>
internal sealed class CsvTable
{
    public string Path { get; }
    public IReadOnlyList<string> Header { get; }
    public IReadOnlyList<(int Line, string[] Fields)> Rows { get; }

    private CsvTable(string path, IReadOnlyList<string> header, IReadOnlyList<(int, string[])> rows)
    {
        Path = path;
        Header = header;
        Rows = rows;
    }

    public static CsvTable Read(string path)
    {
        if (!File.Exists(path)) throw new HyperpixelFlowException($"{path}: file not found");
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0 || string.IsNullOrWhiteSpace(lines[0])) throw new DatasetFormatException(path, 1, "empty file, expected a header row");
        var header = Split(lines[0], path, 1).Select(h => h.Trim()).ToArray();
        var rows = new List<(int, string[])>();
        for (int i = 1; i < lines.Length; i++)
            if (!string.IsNullOrWhiteSpace(lines[i])) rows.Add((i + 1, Split(lines[i], path, i + 1)));
        return new CsvTable(path, header, rows);
    }

    public int Column(string name)
    {
        int i = Array.FindIndex(Header.ToArray(), h => string.Equals(h, name, StringComparison.OrdinalIgnoreCase));
        if (i < 0) throw new DatasetFormatException(Path, 1, $"missing column '{name}' (header: {string.Join(",", Header)})");
        return i;
    }

    public double Number(int line, string[] fields, int column)
    {
        if (column >= fields.Length) throw new DatasetFormatException(Path, line, $"expected at least {column + 1} fields, found {fields.Length}");
        string text = fields[column].Trim();
        if (string.Equals(text, "nan", StringComparison.OrdinalIgnoreCase)) return double.NaN;
        if (!double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double v))
            throw new DatasetFormatException(Path, line, $"field {column + 1} ('{Header.ElementAtOrDefault(column)}') is not a number: '{text}'");
        return v;
    }

    private static string[] Split(string line, string path, int lineNumber)
    {
        var fields = new List<string>();
        var field = new System.Text.StringBuilder();
        bool quoted = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"') { field.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else field.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == ',') { fields.Add(field.ToString()); field.Clear(); }
            else field.Append(c);
        }
        if (quoted) throw new DatasetFormatException(path, lineNumber, "unterminated quoted field");
        fields.Add(field.ToString().TrimEnd('\r'));
        return fields.ToArray();
    }
}
