using static HyperpixelFlow.Evaluation.Datasets.DatasetParsing;

namespace HyperpixelFlow.Evaluation.Datasets;

/// <summary>The Caltech-101 benchmark: its record and its loader.</summary>
public static class CaltechDataset
{
    /// <summary>The benchmark's record in <see cref="DatasetRegistry.All"/>.</summary>
    public static DatasetSpec Spec { get; } = new("caltech", "Caltech-101 (pairs of the paper's code): mask transfer, LT-ACC and IoU; no margin pruning, as in the paper's code", ["caltech101", "caltech-101"], Load,
        new DatasetSource("caltech", "https://drive.google.com/uc?export=download&confirm=t&id=1IV0E5sJ6xSdDyIvVSTdZjPHELMwGzsMn", "Caltech-101"), PckThreshold.Image, DefaultMarginPruning: false);

    /// <summary>
    /// Caltech-101: <c>test_pairs_caltech_with_category.csv</c> (source, target, class id, then source x / y and target
    /// x / y mask polygons as comma-separated strings), images under <c>101_ObjectCategories/&lt;class&gt;/</c>.
    /// </summary>
    public static BenchmarkDataset Load(string root, string split = "test")
    {
        var csv = CsvTable.Read(Path.Combine(root, $"{split}_pairs_caltech_with_category.csv"));
        var pairs = new List<BenchmarkPair>();
        foreach (var (line, f) in csv.Rows)
        {
            if (f.Length < 7) throw new DatasetFormatException(csv.Path, line, $"expected 7 fields, found {f.Length}");
            string category = Path.GetFileName(Path.GetDirectoryName(f[0].Trim().Replace('\\', '/')) ?? "");
            string ImagePath(string p) => Path.Combine(root, "101_ObjectCategories", category, Path.GetFileName(p.Trim()));
            var source = new Polygon(PolygonPoints(csv, line, f[3], f[4]));
            var target = new Polygon(PolygonPoints(csv, line, f[5], f[6]));
            pairs.Add(new BenchmarkPair($"{pairs.Count}", category, ImagePath(f[0]), ImagePath(f[1]), source.Vertices, target.Vertices,
                SourceMask: source, TargetMask: target));
        }
        return new BenchmarkDataset(Spec.Name, split, root, Spec.DefaultThreshold, pairs);
    }
}
