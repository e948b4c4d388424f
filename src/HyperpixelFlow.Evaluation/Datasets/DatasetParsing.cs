using System.Globalization;
using HyperpixelFlow.Flow;

namespace HyperpixelFlow.Evaluation.Datasets;

/// <summary>Parsing helpers the dataset loaders share; every problem is a <see cref="DatasetFormatException"/> naming file and line.</summary>
internal static class DatasetParsing
{
    internal static List<Point2> PolygonPoints(CsvTable csv, int line, string xs, string ys)
    {
        var x = Numbers(csv, line, xs, ',');
        var y = Numbers(csv, line, ys, ',');
        if (x.Count != y.Count || x.Count < 3)
            throw new DatasetFormatException(csv.Path, line, $"mask polygon needs matching x and y lists of at least 3 values ({x.Count} x, {y.Count} y)");
        return x.Zip(y, (a, b) => new Point2(a, b)).ToList();
    }

    internal static List<double> Numbers(CsvTable csv, int line, string text, char separator)
    {
        var values = new List<double>();
        foreach (var part in text.Split(separator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!double.TryParse(part, NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
                throw new DatasetFormatException(csv.Path, line, $"'{part}' is not a number");
            values.Add(v);
        }
        return values;
    }

    internal static List<Point2> InlinePoints(CsvTable csv, int line, string[] f, int xColumn, int yColumn)
    {
        if (Math.Max(xColumn, yColumn) >= f.Length) throw new DatasetFormatException(csv.Path, line, "missing coordinate fields");
        var x = Numbers(csv, line, f[xColumn].Replace("nan", "NaN", StringComparison.OrdinalIgnoreCase), ';');
        var y = Numbers(csv, line, f[yColumn].Replace("nan", "NaN", StringComparison.OrdinalIgnoreCase), ';');
        if (x.Count != y.Count) throw new DatasetFormatException(csv.Path, line, $"{x.Count} x but {y.Count} y coordinates");
        return x.Zip(y, (a, b) => new Point2(a, b)).ToList();
    }

    internal static List<Point2> Points(CsvTable csv, int line, string[] f, int xStart, int yStart, int count) =>
        Enumerable.Range(0, count).Select(i => new Point2(csv.Number(line, f, xStart + i), csv.Number(line, f, yStart + i))).ToList();

    internal static (IReadOnlyList<Point2>, IReadOnlyList<Point2>) KeepVisibleInBoth(IReadOnlyList<Point2> source, IReadOnlyList<Point2> target)
    {
        static bool Visible(Point2 p) => double.IsFinite(p.X) && double.IsFinite(p.Y);
        var keep = Enumerable.Range(0, source.Count).Where(i => Visible(source[i]) && Visible(target[i])).ToList();
        return (keep.Select(i => source[i]).ToList(), keep.Select(i => target[i]).ToList());
    }

    internal static string StripFirstComponent(string path)
    {
        var parts = path.Trim().Replace('\\', '/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        return parts.Length > 1 ? string.Join('/', parts.Skip(1)) : parts[0];
    }
}
